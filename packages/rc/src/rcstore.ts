import { randomUUID } from 'node:crypto';
import {
  changedWhileSigning,
  listRecords,
  RcError,
  RcErrorCode,
  storeError,
} from '@p2/controller-kit';
import {
  type AllocationStrategy,
  decodeRc,
  decodeRcStatus,
  delegationStatement,
  encodeRc,
  encodeRcStatus,
  keepValidSignature,
  LabelStore,
  Prefix,
  type RcRecord,
  type RcStatus,
  rcKey,
  rcStatusKey,
  type StatementSigner,
  signForWrite,
} from '@p2/keyspace';
import type { KvEntry, Store, TxnOp } from '@p2/kv';
import {
  type LabelSet,
  labelKeyProblem,
  labelValueProblem,
  ReservedLabel,
  Selector,
} from '@p2/labels';
import type { Manifest } from '@p2/manifest';

const KIND = 'replication_controllers';

/** What {@link RcStore.create} needs. */
export interface CreateRcRequest {
  readonly manifest: Manifest;
  /** Node selector (text or parsed). */
  readonly nodeSelector: Selector | string;
  /** Labels put on every pod the RC schedules. */
  readonly podLabels?: LabelSet;
  /** Labels on the RC itself (`pod_id` is added). */
  readonly rcLabels?: LabelSet;
  /** Injected into pod labels as `availability_zone` (P2's `rcstore.Create`). */
  readonly availabilityZone?: string;
  /** Injected into pod labels as `cluster_name`. */
  readonly clusterName?: string;
  /** @default 'static_strategy' */
  readonly allocationStrategy?: string;
  /** Initial replica count (P2 always started at 0). @default 0 */
  readonly replicasDesired?: number;
  /** p2 extension: spread replicas across this node label. */
  readonly topologySpreadKey?: string;
  /** Create disabled. @default false */
  readonly disabled?: boolean;
  /** Use this id instead of a new UUID. */
  readonly id?: string;
  /** Delegated signing: sign the new record's statement as a deployer (stored as `deployer_signature`). */
  readonly sign?: StatementSigner;
}

/**
 * Replication controller records at `replication_controllers/<id>`, with P2's semantics:
 * create-only writes at CAS index 0, mutations as GET + CAS at the key's ModifyIndex (retried),
 * delete refusing while replicas are wanted.
 *
 * @example
 * ```ts
 * const rcs = new RcStore(store);
 * const rc = await rcs.create({ manifest, nodeSelector: 'role=web' });
 * await rcs.setDesiredReplicas(rc.id, 3);
 * ```
 */
/** The allocation strategies P2 knows. */
const ALLOCATION_STRATEGIES = [
  'static_strategy',
  'dynamic_strategy',
] as const satisfies readonly AllocationStrategy[];

export class RcStore {
  readonly #store: Store;
  readonly #labels: LabelStore;
  readonly #retries: number;

  constructor(store: Store, options: { casRetries?: number; labels?: LabelStore } = {}) {
    this.#store = store;
    this.#labels = options.labels ?? new LabelStore(store);
    this.#retries = options.casRetries ?? 5;
  }

  /**
   * Creates an RC (CAS index 0) with its status record (`{}`: no node transfer) in one
   * transaction, then its labels (`pod_id` plus `rcLabels`).
   *
   * @throws RcError `P2_RC_INVALID_REQUEST`, `P2_RC_CONFLICT` (id exists), `P2_RC_STORE`
   */
  async create(request: CreateRcRequest): Promise<RcRecord> {
    const selector =
      typeof request.nodeSelector === 'string'
        ? Selector.parse(request.nodeSelector)
        : request.nodeSelector;
    const replicas = request.replicasDesired ?? 0;
    if (!Number.isSafeInteger(replicas) || replicas < 0) {
      throw new RcError(
        RcErrorCode.INVALID_REQUEST,
        `replicas must be a non-negative integer, got ${replicas}`,
      );
    }
    const podLabels: Record<string, string> = { ...(request.podLabels ?? {}) };
    for (const [k, v] of Object.entries({ ...podLabels, ...(request.rcLabels ?? {}) })) {
      const problem = labelKeyProblem(k) ?? labelValueProblem(v);
      if (problem !== undefined) {
        throw new RcError(RcErrorCode.INVALID_REQUEST, `label ${k}=${v}: ${problem}`, {
          details: { key: k, value: v },
        });
      }
    }
    if (request.availabilityZone !== undefined)
      podLabels[ReservedLabel.AVAILABILITY_ZONE] = request.availabilityZone;
    if (request.clusterName !== undefined)
      podLabels[ReservedLabel.CLUSTER_NAME] = request.clusterName;
    let rc: RcRecord = {
      id: request.id ?? randomUUID(),
      manifest: request.manifest,
      nodeSelector: selector,
      podLabels,
      replicasDesired: replicas,
      disabled: request.disabled ?? false,
      allocationStrategy: request.allocationStrategy ?? 'static_strategy',
      ...(request.topologySpreadKey ? { topologySpreadKey: request.topologySpreadKey } : {}),
    };
    if (request.sign) {
      rc = { ...rc, deployerSignature: await request.sign(delegationStatement(KIND, rc)) };
    }
    let created: boolean;
    try {
      created = (
        await this.#store.txn([
          { verb: 'cas', key: rcKey(rc.id), value: encodeRc(rc), index: 0 },
          { verb: 'set', key: rcStatusKey(rc.id), value: encodeRcStatus({}) },
        ])
      ).committed;
    } catch (cause) {
      throw storeError(`creating ${rcKey(rc.id)}`, cause);
    }
    if (!created) {
      throw new RcError(RcErrorCode.CONFLICT, `replication controller ${rc.id} already exists`, {
        details: { id: rc.id },
      });
    }
    await this.#labels.setLabels('replication_controller', rc.id, {
      ...(request.rcLabels ?? {}),
      [ReservedLabel.POD_ID]: rc.manifest.id,
    });
    return rc;
  }

  /** One RC with the index it was read at. @throws RcError `P2_RC_NOT_FOUND`, `P2_RC_INVALID_RECORD`, `P2_RC_STORE` */
  async get(id: string): Promise<{ rc: RcRecord; index: number }> {
    const key = rcKey(id);
    const entry = await this.#read(key);
    if (!entry) {
      throw new RcError(RcErrorCode.NOT_FOUND, `replication controller ${id} does not exist`, {
        details: { id },
        hint: 'list them with `p2 rc list`',
      });
    }
    return { rc: decodeRc(entry.value, key), index: entry.modifyIndex };
  }

  /**
   * An RC's status record (P2's `p2-rctl get-status`): `{}`, or the node transfer in progress;
   * undefined when there is none (no such RC, or one no p2 farm has run yet).
   *
   * @throws RcError `P2_RC_STORE`; KvError `P2_KV_BAD_RECORD` for a record that is not one
   */
  async getStatus(id: string): Promise<RcStatus | undefined> {
    const key = rcStatusKey(id);
    const entry = await this.#read(key);
    return entry ? decodeRcStatus(entry.value, key) : undefined;
  }

  /** Whether `replication_controllers/<id>` exists (readable or not). @throws RcError `P2_RC_STORE` */
  async exists(id: string): Promise<boolean> {
    return (await this.#read(rcKey(id))) !== undefined;
  }

  async #read(key: string): Promise<KvEntry | undefined> {
    try {
      return (await this.#store.get(key)).value;
    } catch (cause) {
      throw storeError(`reading ${key}`, cause);
    }
  }

  /** Every readable RC, sorted by id; unreadable records are reported in `errors`. @throws RcError `P2_RC_STORE` */
  async list(): Promise<{ rcs: RcRecord[]; errors: RcError[] }> {
    const { records, errors } = await listRecords(
      this.#store,
      Prefix.replicationControllers,
      decodeRc,
    );
    return { rcs: records, errors: errors as RcError[] };
  }

  /**
   * Read-modify-CAS, retried on lost races. `fn` returns the new record (its id must not change).
   *
   * @throws RcError `P2_RC_NOT_FOUND`, `P2_RC_CONFLICT`, `P2_RC_INVALID_REQUEST`, `P2_RC_STORE`
   */
  async mutate(id: string, fn: (rc: RcRecord) => RcRecord): Promise<RcRecord> {
    for (let attempt = 0; ; attempt++) {
      const { rc, index } = await this.get(id);
      const next = keepValidSignature(KIND, rc, fn(rc));
      if (next.id !== id) {
        throw new RcError(
          RcErrorCode.INVALID_REQUEST,
          `an RC's id cannot change (${id} → ${next.id})`,
        );
      }
      let ok: boolean;
      try {
        ok = await this.#store.cas(rcKey(id), encodeRc(next), index);
      } catch (cause) {
        throw storeError(`writing ${rcKey(id)}`, cause);
      }
      if (ok) return next;
      if (attempt >= this.#retries) {
        throw new RcError(
          RcErrorCode.CONFLICT,
          `replication controller ${id} kept changing while being updated`,
          {
            hint: 'retry',
          },
        );
      }
    }
  }

  /**
   * Signs the RC as a deployer (delegated signing): its current statement — pod, manifest SHA,
   * node selector — is signed and stored as `deployer_signature`, only if the RC did not change
   * meanwhile.
   * @throws RcError as {@link RcStore.mutate}; `P2_RC_CONFLICT` when the RC changed while signing
   */
  async sign(id: string, sign: StatementSigner): Promise<RcRecord> {
    const seal = await signForWrite(
      KIND,
      sign,
      async () => (await this.get(id)).rc,
      () => changedWhileSigning(`replication controller ${id}`, 'sign it again'),
    );
    return this.mutate(id, seal);
  }

  /** Sets `replicas_desired`. @throws RcError as {@link RcStore.mutate} */
  setDesiredReplicas(id: string, replicas: number): Promise<RcRecord> {
    if (!Number.isSafeInteger(replicas) || replicas < 0) {
      return Promise.reject(
        new RcError(
          RcErrorCode.INVALID_REQUEST,
          `replicas must be a non-negative integer, got ${replicas}`,
        ),
      );
    }
    return this.mutate(id, (rc) => ({ ...rc, replicasDesired: replicas }));
  }

  /** Adds (or with a negative number removes) replicas, clamped at 0. */
  addDesiredReplicas(id: string, delta: number): Promise<RcRecord> {
    return this.mutate(id, (rc) => ({
      ...rc,
      replicasDesired: Math.max(0, rc.replicasDesired + delta),
    }));
  }

  /** Enables an RC. */
  enable(id: string): Promise<RcRecord> {
    return this.mutate(id, (rc) => ({ ...rc, disabled: false }));
  }

  /** Disables an RC (no adds, removals or consistency rewrites). */
  disable(id: string): Promise<RcRecord> {
    return this.mutate(id, (rc) => ({ ...rc, disabled: true }));
  }

  /**
   * Changes the allocation strategy (P2's `p2-rctl update-strategy`): `static_strategy` (pods stay
   * on ineligible nodes) or `dynamic_strategy` (pods move off them, one node transfer at a time).
   *
   * @throws RcError `P2_RC_INVALID_REQUEST` for another strategy; as {@link RcStore.mutate}
   */
  updateAllocationStrategy(id: string, strategy: string): Promise<RcRecord> {
    if (!(ALLOCATION_STRATEGIES as readonly string[]).includes(strategy)) {
      return Promise.reject(
        new RcError(
          RcErrorCode.INVALID_REQUEST,
          `unknown allocation strategy ${JSON.stringify(strategy)}`,
          { hint: `use one of ${ALLOCATION_STRATEGIES.join(', ')}` },
        ),
      );
    }
    return this.mutate(id, (rc) => ({ ...rc, allocationStrategy: strategy }));
  }

  /** Replaces the manifest (pushes it to every eligible node on the next pass, without health gating). */
  async updateManifest(
    id: string,
    manifest: Manifest,
    options: {
      /** Sign the updated RC as a deployer; without it an old `deployer_signature` is dropped. */
      sign?: StatementSigner;
    } = {},
  ): Promise<RcRecord> {
    const seal = await signForWrite(
      KIND,
      options.sign,
      async () => ({ ...(await this.get(id)).rc, manifest }),
      () => changedWhileSigning(`replication controller ${id}`, 'run the update again'),
    );
    return this.mutate(id, (rc) => {
      if (manifest.id !== rc.manifest.id) {
        throw new RcError(
          RcErrorCode.INVALID_REQUEST,
          `the new manifest is for pod "${manifest.id}" but RC ${id} manages "${rc.manifest.id}"`,
        );
      }
      return seal({ ...rc, manifest });
    });
  }

  /**
   * Deletes an RC with its status record (one transaction), then its labels. Refuses while `replicas_desired > 0` unless `force`. Pods stay
   * scheduled (P2 behaviour): set replicas to 0 and let the RC remove them first.
   *
   * @throws RcError `P2_RC_HAS_REPLICAS`, `P2_RC_NOT_FOUND`, `P2_RC_CONFLICT`, `P2_RC_STORE`
   */
  async delete(id: string, options: { force?: boolean } = {}): Promise<void> {
    const { rc, index } = await this.get(id);
    if (rc.replicasDesired > 0 && !options.force) {
      throw new RcError(
        RcErrorCode.HAS_REPLICAS,
        `replication controller ${id} still wants ${rc.replicasDesired} replicas`,
        { hint: 'set its replicas to 0 first (and wait for its pods to go), or delete with force' },
      );
    }
    let ok: boolean;
    try {
      ok = (
        await this.#store.txn([
          { verb: 'delete-cas', key: rcKey(id), index },
          { verb: 'delete', key: rcStatusKey(id) },
        ])
      ).committed;
    } catch (cause) {
      throw storeError(`deleting ${rcKey(id)}`, cause);
    }
    if (!ok)
      throw new RcError(
        RcErrorCode.CONFLICT,
        `replication controller ${id} changed while being deleted; retry`,
      );
    await this.#labels.removeAll('replication_controller', id);
  }

  /**
   * The two CAS ops of P2's `TransferReplicaCounts`: `to += add`, `from -= remove`, each at the
   * index the RC was read at; fails at once when either count is not the expected starting count.
   *
   * @throws RcError `P2_RC_CONFLICT`, `P2_RC_NOT_FOUND`, `P2_RC_STORE`
   */
  async transferOps(request: {
    to: string;
    from: string;
    add: number;
    remove: number;
    startingTo: number;
    startingFrom: number;
  }): Promise<TxnOp[]> {
    const to = await this.get(request.to);
    const from = await this.get(request.from);
    if (
      to.rc.replicasDesired !== request.startingTo ||
      from.rc.replicasDesired !== request.startingFrom
    ) {
      throw new RcError(
        RcErrorCode.CONFLICT,
        `replica counts changed: expected ${request.to}=${request.startingTo}, ${request.from}=${request.startingFrom}; found ${to.rc.replicasDesired}, ${from.rc.replicasDesired}`,
      );
    }
    return [
      {
        verb: 'cas',
        key: rcKey(request.to),
        value: encodeRc({ ...to.rc, replicasDesired: to.rc.replicasDesired + request.add }),
        index: to.index,
      },
      {
        verb: 'cas',
        key: rcKey(request.from),
        value: encodeRc({
          ...from.rc,
          replicasDesired: Math.max(0, from.rc.replicasDesired - request.remove),
        }),
        index: from.index,
      },
    ];
  }
}
