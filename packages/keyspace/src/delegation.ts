/**
 * Delegated signing in the store (see @p2/auth's `DelegatedSigner`): the statement a deployer signs
 * for an RC or a daemon set, built from the record's stored fields, and the store-backed record
 * source a host's policy reads. Structural types only: @p2/auth's `DelegationStatement` and
 * `DelegationRecordSource` accept these as they are.
 */
import type { Store } from '@p2/kv';
import { dsKey, rcKey } from './keys.js';
import { LabelStore } from './label-store.js';
import { type DsRecord, decodeDs, decodeRc, type RcRecord } from './records.js';

/** The records that may delegate, named by their store key prefix. */
export type DelegatingKind = 'replication_controllers' | 'daemon_sets';

/** What a deployer signs for a record (@p2/auth's `DelegationStatement`). */
export interface RecordStatement {
  readonly kind: DelegatingKind;
  readonly id: string;
  readonly podId: string;
  readonly manifestSha: string;
  readonly nodeSelector: string;
}

/**
 * The delegation statement of an RC or a daemon set: its id, pod id, manifest SHA and node
 * selector as stored. Anything else (replica count, disabled, labels) may change without a new
 * signature; a new manifest or selector needs one.
 *
 * @example delegationStatement('replication_controllers', rc) // { kind, id, podId: 'hello', manifestSha, nodeSelector: 'role=web' }
 */
export function delegationStatement(
  kind: DelegatingKind,
  record: RcRecord | DsRecord,
): RecordStatement {
  return {
    kind,
    id: record.id,
    podId: record.manifest.id,
    manifestSha: record.manifest.sha(),
    nodeSelector: record.nodeSelector.toString(),
  };
}

/** True when two statements are the same (same signature applies). */
export function sameStatement(a: RecordStatement, b: RecordStatement): boolean {
  return (
    a.kind === b.kind &&
    a.id === b.id &&
    a.podId === b.podId &&
    a.manifestSha === b.manifestSha &&
    a.nodeSelector === b.nodeSelector
  );
}

/** Signs a record's statement as a deployer (e.g. @p2/auth's `signDelegationStatement` with a key). */
export type StatementSigner = (statement: RecordStatement) => Promise<string>;

/**
 * The "sign, then CAS only if unchanged" step of a delegated-signing write: signs the statement of
 * the record as it is about to be stored (`plan`, read only when `sign` is given) and returns the
 * step the read-modify-CAS loop applies to the record it computed from what it read: the signature
 * added, or `changed()` thrown when that record's statement is not the one signed (the record
 * changed meanwhile). Without `sign` the record passes as it is.
 *
 * @example
 * ```ts
 * const seal = await signForWrite(KIND, sign, async () => ({ ...(await get(id)), manifest }), conflict);
 * await mutate(id, (rc) => seal({ ...rc, manifest }));
 * ```
 */
export async function signForWrite<T extends RcRecord | DsRecord>(
  kind: DelegatingKind,
  sign: StatementSigner | undefined,
  plan: () => T | Promise<T>,
  changed: () => Error,
): Promise<(next: T) => T> {
  if (!sign) return (next) => next;
  const statement = delegationStatement(kind, await plan());
  const signature = await sign(statement);
  return (next) => {
    if (!sameStatement(delegationStatement(kind, next), statement)) throw changed();
    return { ...next, deployerSignature: signature };
  };
}

/**
 * `next` as it may be stored after a change of `before`: a deployer signature that no longer covers
 * the record (its manifest or selector changed, and no new signature came with the change) is
 * dropped rather than kept as a signature that will never verify.
 *
 * @example keepValidSignature('daemon_sets', ds, { ...ds, manifest: v2 }).deployerSignature // undefined
 */
export function keepValidSignature<T extends RcRecord | DsRecord>(
  kind: DelegatingKind,
  before: T,
  next: T,
): T {
  if (!next.deployerSignature || next.deployerSignature !== before.deployerSignature) return next;
  if (sameStatement(delegationStatement(kind, before), delegationStatement(kind, next)))
    return next;
  return { ...next, deployerSignature: undefined };
}

/**
 * The records a host's delegation policy reads: `replication_controllers/<id>` or
 * `daemon_sets/<id>`, their statement and deployer signature, and whether their node selector
 * selects this node (its labels at `labels/node/<node>`).
 *
 * @example
 * ```ts
 * const authorizer = await createManifestAuthorizer(auth, {
 *   delegationRecords: new StoreDelegationRecords(store, 'node1'),
 * });
 * ```
 */
export class StoreDelegationRecords {
  readonly #labels: LabelStore;

  constructor(
    private readonly store: Store,
    private readonly node: string,
    options: { labels?: LabelStore } = {},
  ) {
    this.#labels = options.labels ?? new LabelStore(store, { validate: false });
  }

  /**
   * The record, or undefined when it does not exist.
   * @throws KvError when the store cannot be read or the record is malformed.
   */
  async get(ref: {
    kind: DelegatingKind;
    id: string;
  }): Promise<
    { statement: RecordStatement; signature: string | undefined; nodeSelected: boolean } | undefined
  > {
    const key = ref.kind === 'replication_controllers' ? rcKey(ref.id) : dsKey(ref.id);
    const entry = (await this.store.get(key)).value;
    if (entry === undefined) return undefined;
    const record =
      ref.kind === 'replication_controllers'
        ? decodeRc(entry.value, key)
        : decodeDs(entry.value, key);
    const labels = await this.#labels.get('node', this.node);
    return {
      statement: delegationStatement(ref.kind, record),
      signature: record.deployerSignature,
      nodeSelected: record.nodeSelector.matches(labels.labels),
    };
  }
}
