/**
 * Delegated signing (the seed's "if you hate GPG, you can use delegated signing with a trusted
 * orchestration service"). A deployer signs a controller record once — a replication controller or
 * a daemon set: which pod, which manifest (by P2 SHA), which nodes (selector). The controllers sign
 * every manifest they write into intent with their own key and name that record in a signature
 * notation. A host accepts such a manifest only when the named record exists, carries a valid
 * signature by a deployer its policy authorizes for the pod, was signed for this very pod and
 * manifest, and selects this node. The controllers' key alone therefore deploys nothing a deployer
 * did not ask for.
 */
import type * as openpgp from 'openpgp';
import { AuthError, AuthErrorCodes } from './errors.js';
import type { KeyringSource } from './keyring.js';
import { loadOpenpgp } from './openpgp.js';
import { loadSecretKeys, type SecretKeyOptions, type SignOptions, signManifest } from './sign.js';
import { describeCause, hexKeyId } from './util.js';

/** The signature notation naming the record a controller wrote a manifest for: `<kind>/<id>`. */
export const DELEGATION_NOTATION = 'p2-record@p2';

/** The records that may delegate: their store key prefix. */
export type DelegatingRecordKind = 'replication_controllers' | 'daemon_sets';

/** A record named by a delegated manifest. */
export interface RecordRef {
  readonly kind: DelegatingRecordKind;
  readonly id: string;
}

/** What a deployer signs for a record; built from the record's stored fields. */
export interface DelegationStatement extends RecordRef {
  /** The manifest's pod id. */
  readonly podId: string;
  /** P2's SHA of the record's manifest. */
  readonly manifestSha: string;
  /** The record's node selector as stored (`""` selects every node). */
  readonly nodeSelector: string;
}

/** A record as a host reads it for delegation. */
export interface DelegatingRecord {
  /** The statement built from the record's current fields (never taken from the signature). */
  readonly statement: DelegationStatement;
  /** The deployer's detached signature over {@link delegationStatementText}, if any. */
  readonly signature?: string | undefined;
  /** Whether the record's node selector selects this host's node. */
  readonly nodeSelected: boolean;
}

/** Where a host reads delegating records (the store, in the preparer). */
export interface DelegationRecordSource {
  /** The record, or undefined when it does not exist. May throw when the store cannot be read. */
  get(ref: RecordRef): Promise<DelegatingRecord | undefined>;
}

/** Delegation settings of a signed policy. */
export interface DelegationOptions {
  /** Public keys of the trusted orchestration services (never deployers themselves). */
  keyring: KeyringSource;
  /** Where records are read; without it every delegated manifest is refused. */
  records?: DelegationRecordSource | undefined;
}

const KINDS: readonly DelegatingRecordKind[] = ['replication_controllers', 'daemon_sets'];
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The exact text a deployer signs for a record: a versioned header and one `key: value` line per
 * field, LF-separated. Hosts rebuild it from the stored record, so a record changed after signing
 * no longer matches its signature.
 *
 * @example
 * ```ts
 * delegationStatementText({ kind: 'replication_controllers', id: rcId, podId: 'hello', manifestSha, nodeSelector: 'role=web' });
 * // 'p2 delegation v1\nkind: replication_controllers\nid: …\npod_id: hello\nmanifest_sha: …\nnode_selector: role=web\n'
 * ```
 */
export function delegationStatementText(statement: DelegationStatement): string {
  return [
    'p2 delegation v1',
    `kind: ${statement.kind}`,
    `id: ${statement.id}`,
    `pod_id: ${statement.podId}`,
    `manifest_sha: ${statement.manifestSha}`,
    `node_selector: ${statement.nodeSelector.replace(/[\r\n]/g, ' ')}`,
    '',
  ].join('\n');
}

/**
 * Signs a record's statement as a deployer: an armored detached signature to store in the record
 * (`deployer_signature`). Several keys give several packets (M-of-N pods).
 *
 * @throws AuthError `P2_AUTH_SIGNING_FAILED`.
 * @example
 * ```ts
 * const signature = await signDelegationStatement(delegationStatement('replication_controllers', rc), key);
 * ```
 */
export async function signDelegationStatement(
  statement: DelegationStatement,
  keys: openpgp.PrivateKey | readonly openpgp.PrivateKey[],
  options: Pick<SignOptions, 'date'> = {},
): Promise<string> {
  const pgp = await loadOpenpgp();
  const signingKeys = Array.isArray(keys) ? [...keys] : [keys as openpgp.PrivateKey];
  try {
    return await pgp.sign({
      message: await pgp.createMessage({ binary: statementBytes(statement) }),
      signingKeys,
      detached: true,
      format: 'armored',
      ...(options.date ? { date: options.date } : {}),
    });
  } catch (cause) {
    throw new AuthError(
      AuthErrorCodes.SIGNING_FAILED,
      `cannot sign ${statement.kind}/${statement.id} with key ${signingKeys.map((k) => hexKeyId(k.getKeyID())).join(', ')}: ${describeCause(cause)}`,
      { cause },
    );
  }
}

/** The statement's bytes, as signed and verified. @internal */
export function statementBytes(statement: DelegationStatement): Uint8Array {
  return new TextEncoder().encode(delegationStatementText(statement));
}

/**
 * Signs manifests for the controllers: the manifest text clear-signed with the controllers' key,
 * the record it is written for named in the signature's `p2-record@p2` notation. The signed text is
 * the record's manifest unchanged, so the pod's SHA stays the same. Signatures are cached per
 * record and manifest (a controller writes the same manifest to many nodes).
 *
 * @example
 * ```ts
 * const signer = await DelegatedSigner.fromFile('/etc/p2/controllers/secret-key.asc');
 * const bytes = await signer.sign(manifestText, manifestSha, { kind: 'daemon_sets', id });
 * ```
 */
export class DelegatedSigner {
  readonly #cache = new Map<string, Promise<Uint8Array>>();

  constructor(private readonly key: openpgp.PrivateKey) {}

  /**
   * The first secret key of an armored or binary key file's contents.
   * @throws AuthError `P2_AUTH_SECRET_KEY_INVALID`.
   */
  static async fromKey(input: Uint8Array | string, options: SecretKeyOptions = {}) {
    const [key] = await loadSecretKeys(input, options);
    return new DelegatedSigner(key!);
  }

  /** Fingerprint of the signing key (upper case). */
  get fingerprint(): string {
    return this.key.getFingerprint().toUpperCase();
  }

  /**
   * The clear-signed manifest for `ref`.
   * @throws AuthError `P2_AUTH_SIGNING_FAILED`.
   */
  sign(text: string, sha: string, ref: RecordRef): Promise<Uint8Array> {
    const cacheKey = `${ref.kind}/${ref.id}/${sha}`;
    let signed = this.#cache.get(cacheKey);
    if (!signed) {
      if (this.#cache.size >= 1024) this.#cache.clear();
      signed = signManifest(text, this.key, {
        notations: { [DELEGATION_NOTATION]: `${ref.kind}/${ref.id}` },
      }).then((t) => new TextEncoder().encode(t.endsWith('\n') ? t : `${t}\n`));
      signed.catch(() => this.#cache.delete(cacheKey));
      this.#cache.set(cacheKey, signed);
    }
    return signed;
  }
}

/**
 * Reads `<kind>/<id>` from a notation value.
 * @throws AuthError `P2_AUTH_DELEGATION_INVALID`.
 */
export function parseRecordRef(value: string | undefined, podId: string): RecordRef {
  const [kind, id, ...rest] = (value ?? '').split('/');
  if (!KINDS.includes(kind as DelegatingRecordKind) || !id || !ID.test(id) || rest.length > 0) {
    throw new AuthError(
      AuthErrorCodes.DELEGATION_INVALID,
      value === undefined
        ? `manifest for pod ${podId} is signed by a controller key but names no record that asked for it`
        : `manifest for pod ${podId} is signed by a controller key and names an unusable record reference`,
      {
        hint: `a controller must name the record in the ${DELEGATION_NOTATION} notation (replication_controllers/<id> or daemon_sets/<id>)`,
        details: { podId },
      },
    );
  }
  return { kind: kind as DelegatingRecordKind, id };
}
