import { randomUUID } from 'node:crypto';
import {
  byName,
  type ControllerContext,
  changedWhileSigning,
  commit,
  commitNodeChanges,
  type FarmOptions,
  healthyAfter,
  LockFarm,
  listRecords,
  type NodeChange,
  RcError,
  RcErrorCode,
  RecordWorker,
  type RecordWorkerOptions,
  readIntents,
  readPerNode,
  resolveContext,
  StoreHealthSource,
  sameManifest,
  storeError,
} from '@p2/controller-kit';
import { formatGoDuration } from '@p2/go';
import {
  type AuditEventType,
  auditLogOp,
  type DsRecord,
  type DsStatus,
  decodeDs,
  decodeDsStatus,
  delegationStatement,
  dsKey,
  dsStatusKey,
  encodeDs,
  encodeDsStatus,
  type IndexedLabels,
  intentKey,
  keepValidSignature,
  LabelStore,
  lockKeys,
  lockPrefixes,
  Prefix,
  parsePodLabelId,
  podLabelId,
  realityKey,
  type StatementSigner,
  signForWrite,
} from '@p2/keyspace';
import type { KvEntry, Store, TxnOp } from '@p2/kv';
import { ReservedLabel, Selector } from '@p2/labels';
import type { Manifest } from '@p2/manifest';

const KIND = 'daemon_sets';

/** What {@link DsStore.create} needs. */
export interface CreateDsRequest {
  readonly manifest: Manifest;
  /** Node selector; empty is refused unless `everywhere`. */
  readonly nodeSelector?: Selector | string;
  /** Run on every node (the selector is ignored). */
  readonly everywhere?: boolean;
  /** Healthy replicas to keep while replacing. */
  readonly minHealth: number;
  readonly clusterName: string;
  /** Per-node timeout in ms; must be > 0 (P2 rule). */
  readonly timeoutMs: number;
  readonly disabled?: boolean;
  readonly id?: string;
  /** Who asked (audit records). @default '' */
  readonly user?: string;
  /** Delegated signing: sign the new record's statement as a deployer (`deployer_signature`). */
  readonly sign?: StatementSigner;
}

function dsAudit(type: AuditEventType, ds: DsRecord, user: string): TxnOp {
  return auditLogOp(type, { daemon_set: JSON.parse(encodeDs(ds)), user }).op;
}

/**
 * Daemon set records at `daemon_sets/<id>` in P2's format. Every change is a CAS and carries a
 * `DAEMON_SET_*` audit record in the same transaction (P2 had this only as an unused wrapper).
 */
export class DsStore {
  readonly #labels: LabelStore;

  constructor(
    private readonly store: Store,
    options: { labels?: LabelStore } = {},
  ) {
    this.#labels = options.labels ?? new LabelStore(store);
  }

  /**
   * Creates a daemon set after P2's checks: timeout > 0, a selector (or `everywhere`), and no
   * contention with another enabled daemon set of the same pod id.
   *
   * @throws RcError `P2_RC_INVALID_REQUEST`, `P2_RC_CONFLICT` (contention or id taken), `P2_RC_STORE`
   */
  async create(request: CreateDsRequest): Promise<DsRecord> {
    const selector = request.everywhere
      ? Selector.everything()
      : typeof request.nodeSelector === 'string'
        ? Selector.parse(request.nodeSelector)
        : (request.nodeSelector ?? Selector.everything());
    if (!request.everywhere && selector.isEverything()) {
      throw new RcError(RcErrorCode.INVALID_REQUEST, 'a daemon set needs a node selector', {
        hint: 'pass a selector, or `everywhere` to run on every node',
      });
    }
    if (!(request.timeoutMs > 0)) {
      throw new RcError(
        RcErrorCode.INVALID_REQUEST,
        `the timeout must be positive, got ${request.timeoutMs} ms`,
      );
    }
    if (!Number.isSafeInteger(request.minHealth) || request.minHealth < 0) {
      throw new RcError(
        RcErrorCode.INVALID_REQUEST,
        `min health must be a non-negative integer, got ${request.minHealth}`,
      );
    }
    let ds: DsRecord = {
      id: request.id ?? randomUUID(),
      disabled: request.disabled ?? false,
      manifest: request.manifest,
      minHealth: request.minHealth,
      clusterName: request.clusterName,
      nodeSelector: selector,
      podId: request.manifest.id,
      timeoutMs: request.timeoutMs,
    };
    if (request.sign) {
      ds = { ...ds, deployerSignature: await request.sign(delegationStatement(KIND, ds)) };
    }
    const contender = await this.contention(ds);
    if (contender) {
      throw new RcError(
        RcErrorCode.CONFLICT,
        `daemon set for pod ${ds.podId} would contend with daemon set ${contender} (overlapping nodes)`,
        { details: { contender } },
      );
    }
    await commit(
      this.store,
      [
        { verb: 'cas', key: dsKey(ds.id), value: encodeDs(ds), index: 0 },
        dsAudit('DAEMON_SET_CREATED', ds, request.user ?? ''),
      ],
      `creating daemon set ${ds.id}`,
    );
    return ds;
  }

  /**
   * The id of another enabled daemon set of the same pod id whose nodes could overlap with `ds`
   * (either selects everything, the selectors are equal, or their eligible nodes intersect).
   */
  async contention(ds: DsRecord): Promise<string | undefined> {
    const mine = new Set((await this.#labels.select('node', ds.nodeSelector)).map((n) => n.id));
    for (const other of await this.list()) {
      if (other.id === ds.id || other.disabled || other.podId !== ds.podId) continue;
      if (other.nodeSelector.isEverything() || ds.nodeSelector.isEverything()) return other.id;
      if (other.nodeSelector.equals(ds.nodeSelector)) return other.id;
      for (const n of await this.#labels.select('node', other.nodeSelector))
        if (mine.has(n.id)) return other.id;
    }
    return undefined;
  }

  /** One daemon set with its index. @throws RcError `P2_RC_NOT_FOUND`, `P2_RC_INVALID_RECORD`, `P2_RC_STORE` */
  async get(id: string): Promise<{ ds: DsRecord; index: number }> {
    let entry: Awaited<ReturnType<Store['get']>>['value'];
    try {
      entry = (await this.store.get(dsKey(id))).value;
    } catch (cause) {
      throw storeError(`reading ${dsKey(id)}`, cause);
    }
    if (!entry)
      throw new RcError(RcErrorCode.NOT_FOUND, `daemon set ${id} does not exist`, {
        details: { id },
      });
    return { ds: decodeDs(entry.value, entry.key), index: entry.modifyIndex };
  }

  /** Every readable daemon set. @throws RcError `P2_RC_STORE` */
  async list(): Promise<DsRecord[]> {
    // An unreadable record is reported by get.
    return (await listRecords(this.store, Prefix.daemonSets, decodeDs)).records;
  }

  /**
   * Read-modify-CAS with an audit record; the id and pod id cannot change.
   *
   * @throws RcError `P2_RC_NOT_FOUND`, `P2_RC_INVALID_REQUEST`, `P2_RC_CONFLICT`, `P2_RC_STORE`
   */
  async mutate(
    id: string,
    event: AuditEventType,
    fn: (ds: DsRecord) => DsRecord,
    user = '',
  ): Promise<DsRecord> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const { ds, index } = await this.get(id);
      const next = keepValidSignature(KIND, ds, fn(ds));
      if (next.id !== id)
        throw new RcError(RcErrorCode.INVALID_REQUEST, `a daemon set's id cannot change`);
      if (next.manifest.id !== ds.podId || next.podId !== ds.podId) {
        throw new RcError(
          RcErrorCode.INVALID_REQUEST,
          `daemon set ${id} runs pod "${ds.podId}"; the manifest is for "${next.manifest.id}"`,
        );
      }
      try {
        await commit(
          this.store,
          [
            { verb: 'cas', key: dsKey(id), value: encodeDs(next), index },
            dsAudit(event, next, user),
          ],
          `updating daemon set ${id}`,
        );
        return next;
      } catch (error) {
        if (!(error instanceof RcError && error.code === RcErrorCode.TXN_ROLLED_BACK)) throw error;
      }
    }
    throw new RcError(RcErrorCode.CONFLICT, `daemon set ${id} kept changing while being updated`);
  }

  /**
   * Signs the daemon set as a deployer (delegated signing), only if it did not change meanwhile
   * (audited `DAEMON_SET_MODIFIED`).
   * @throws RcError as {@link DsStore.mutate}; `P2_RC_CONFLICT` when it changed while signing
   */
  async sign(id: string, sign: StatementSigner, user?: string): Promise<DsRecord> {
    const seal = await signForWrite(
      KIND,
      sign,
      async () => (await this.get(id)).ds,
      () => changedWhileSigning(`daemon set ${id}`, 'sign it again'),
    );
    return this.mutate(id, 'DAEMON_SET_MODIFIED', seal, user);
  }

  /** Enables a daemon set (audited `DAEMON_SET_ENABLED`). @throws RcError as {@link DsStore.mutate} */
  enable(id: string, user?: string): Promise<DsRecord> {
    return this.mutate(id, 'DAEMON_SET_ENABLED', (ds) => ({ ...ds, disabled: false }), user);
  }

  /** Disables a daemon set: its worker makes no changes (audited). @throws RcError as {@link DsStore.mutate} */
  disable(id: string, user?: string): Promise<DsRecord> {
    return this.mutate(id, 'DAEMON_SET_DISABLED', (ds) => ({ ...ds, disabled: true }), user);
  }

  /** Replaces the manifest; the worker rolls it out within the health budget. */
  updateManifest(id: string, manifest: Manifest, user?: string): Promise<DsRecord> {
    return this.mutate(id, 'DAEMON_SET_MANIFEST_UPDATED', (ds) => ({ ...ds, manifest }), user);
  }

  /** Replaces the node selector (audited). @throws RcError as {@link DsStore.mutate}, `P2_LABELS_SELECTOR_SYNTAX` */
  updateSelector(id: string, selector: Selector | string, user?: string): Promise<DsRecord> {
    const s = typeof selector === 'string' ? Selector.parse(selector) : selector;
    return this.mutate(
      id,
      'DAEMON_SET_NODE_SELECTOR_UPDATED',
      (ds) => ({ ...ds, nodeSelector: s }),
      user,
    );
  }

  /**
   * Deletes the record. Its pods stay scheduled until the daemon set farm's orphan sweep (every
   * minute by default) unschedules them, as in P2.
   */
  async delete(id: string, user = ''): Promise<void> {
    const { ds, index } = await this.get(id);
    await commit(
      this.store,
      [{ verb: 'delete-cas', key: dsKey(id), index }, dsAudit('DAEMON_SET_DELETED', ds, user)],
      `deleting daemon set ${id}`,
    );
  }
}

/** What one daemon set pass did. */
export interface DsReconcileResult {
  readonly added: string[];
  readonly removed: string[];
  /** Nodes whose intent moved to the daemon set's manifest this pass. */
  readonly replaced: string[];
  /** Nodes skipped because a replication controller owns the pod there. */
  readonly skipped: string[];
  /** Nodes still on another manifest (waiting for health budget). */
  readonly outdated: string[];
  /** Nodes given the manifest more than `timeout` ago that are still not healthy. */
  readonly timedOut: string[];
  /** Nodes given the manifest (this pass or before) that are not yet settled and passing. */
  readonly waiting: number;
}

/** Reads a daemon set's status record; `undefined` when absent or unreadable. */
export async function readDsStatus(store: Store, id: string): Promise<DsStatus | undefined> {
  try {
    const entry = (await store.get(dsStatusKey(id))).value;
    return entry ? decodeDsStatus(entry.value, entry.key) : undefined;
  } catch {
    return undefined;
  }
}

/** Options of {@link reconcileDaemonSet}. */
export interface DsReconcileOptions {
  /** Session whose hold on `lock/daemon_sets/<id>` every write proves. */
  readonly session?: string;
  /** Most nodes replaced and not yet healthy at once (P2 used 50). @default 50 */
  readonly maxInFlight?: number;
}

/**
 * One pass of a daemon set (spec 03 §4.3, plus the health budget P2 stored but never used):
 * schedule on eligible nodes that lack the pod, unschedule from nodes no longer eligible (never all
 * of them), and replace an outdated manifest node by node while at least `min_health` replicas
 * stay passing. Nodes whose pod belongs to a replication controller are left alone (P2 overwrote
 * them).
 *
 * @throws RcError `P2_RC_INVALID_REQUEST` (the selector matches nothing but pods exist),
 *   `P2_RC_TXN_ROLLED_BACK`, `P2_RC_STORE`
 */
export async function reconcileDaemonSet(
  ctx: ControllerContext,
  ds: DsRecord,
  options: DsReconcileOptions = {},
): Promise<DsReconcileResult> {
  const c = resolveContext(ctx);
  const health = c.health ?? new StoreHealthSource(c.store);
  const podId = ds.podId;
  const proof: TxnOp[] = options.session
    ? [{ verb: 'check-session', key: lockKeys.daemonSet(ds.id), session: options.session }]
    : [];
  const labelsToSet = { [ReservedLabel.DAEMON_SET_ID]: ds.id, [ReservedLabel.POD_ID]: podId };
  const result = {
    added: [] as string[],
    removed: [] as string[],
    replaced: [] as string[],
    skipped: [] as string[],
    outdated: [] as string[],
    timedOut: [] as string[],
    waiting: 0,
  };
  if (ds.disabled) return result;

  const eligible = await c.scheduler.eligibleNodes(ds.manifest, ds.nodeSelector);
  const eligibleSet = new Set(eligible);
  const current = new Map<string, IndexedLabels>();
  for (const r of await c.labels.select('pod', `${ReservedLabel.DAEMON_SET_ID}=${ds.id}`)) {
    const parsed = parsePodLabelId(r.id);
    if (parsed && parsed.podId === podId) current.set(parsed.node, r);
  }
  const schedule = async (node: string, record: IndexedLabels): Promise<TxnOp[]> => {
    const op = c.labels.changeOp(record, { set: labelsToSet });
    const value = await c.intentBytes(ds.manifest, { kind: 'daemon_sets', id: ds.id });
    return [{ verb: 'set', key: intentKey(node, podId), value }, ...(op ? [op] : [])];
  };
  const changes: NodeChange[] = [];

  const leaving = [...current.keys()].filter((n) => !eligibleSet.has(n)).sort(byName);
  if (leaving.length > 0) {
    if (eligible.length === 0) {
      throw new RcError(
        RcErrorCode.INVALID_REQUEST,
        `daemon set ${ds.id} refuses to unschedule everything: its selector "${ds.nodeSelector}" matches no node`,
        {
          hint: 'fix the selector or node labels; delete or disable the daemon set to remove its pods',
        },
      );
    }
    for (const node of leaving) {
      const op = c.labels.changeOp(current.get(node)!, { remove: [ReservedLabel.DAEMON_SET_ID] });
      changes.push({
        node,
        effect: 'remove',
        ops: [{ verb: 'delete', key: intentKey(node, podId) }, ...(op ? [op] : [])],
      });
      result.removed.push(node);
    }
  }
  for (const node of eligible) {
    if (current.has(node)) continue;
    const record = await c.labels.get('pod', podLabelId(node, podId));
    if (record.labels[ReservedLabel.REPLICATION_CONTROLLER_ID] !== undefined) {
      result.skipped.push(node);
      continue;
    }
    changes.push({ node, effect: 'add', ops: await schedule(node, record) });
    result.added.push(node);
  }

  // Replacement within the health budget. When each node's replacement started is kept in the
  // status record, so the per-node timeout survives farm hand-overs.
  const sha = ds.manifest.sha();
  const previous = await readDsStatus(c.store, ds.id);
  const replacing: Record<string, number> =
    previous?.manifest_sha === sha ? { ...(previous.replacing ?? {}) } : {};
  const timedOutBefore = new Set(
    previous?.manifest_sha === sha ? (previous.nodes_timed_out ?? []) : [],
  );
  const nowMs = Date.now();
  const staying = [...current.keys()].filter((n) => eligibleSet.has(n)).sort(byName);
  const intents = await readIntents(c.store, staying, podId);
  const podHealth = await health.podHealth(podId);
  const outdated: string[] = [];
  let healthy = 0;
  let inFlight = 0;
  const realities = await readPerNode(c.store, staying, (node) => realityKey(node, podId));
  for (const node of staying) {
    const intent = intents.get(node);
    const upToDate = intent !== undefined && sameManifest(intent, ds.manifest.raw, sha);
    const reality = realities.get(node);
    // Settled: the preparer launched what is intended (it writes reality as the same bytes).
    const settled =
      intent !== undefined && reality !== undefined && bytesLike(reality.value, intent);
    // Healthy: passing since reality was written (a record from before vouches for the old version).
    const passing = healthyAfter(podHealth.get(node), reality);
    if (settled && passing) healthy++;
    if (!upToDate) {
      outdated.push(node);
    } else if (settled && passing) {
      delete replacing[node];
    } else {
      replacing[node] ??= nowMs;
      // Past the per-node timeout the node stops holding a slot (P2's replicator moved on too);
      // it still counts as unhealthy, so the health budget keeps a bad version from spreading.
      if (ds.timeoutMs > 0 && nowMs - replacing[node]! > ds.timeoutMs) result.timedOut.push(node);
      else inFlight++;
    }
  }
  for (const node of Object.keys(replacing)) if (!current.has(node)) delete replacing[node];
  let budget = healthy - ds.minHealth;
  let slots = (options.maxInFlight ?? 50) - inFlight;
  // Unhealthy outdated nodes first: replacing them costs no healthy replica.
  outdated.sort(
    (a, b) =>
      Number(podHealth.get(a)?.status === 'passing') -
        Number(podHealth.get(b)?.status === 'passing') || byName(a, b),
  );
  for (const node of outdated) {
    if (slots <= 0) break;
    const passing = podHealth.get(node)?.status === 'passing';
    if (passing && budget <= 0) break;
    if (passing) budget--;
    slots--;
    changes.push({ node, effect: 'rewrite', ops: await schedule(node, current.get(node)!) });
    result.replaced.push(node);
    replacing[node] = nowMs;
  }
  result.outdated.push(...outdated.filter((n) => !result.replaced.includes(n)));
  await commitNodeChanges(c.store, changes, {
    proof,
    nodesBefore: current.keys(),
    what: `daemon set ${ds.id}`,
  });
  const newlyTimedOut = result.timedOut.filter((n) => !timedOutBefore.has(n));
  if (newlyTimedOut.length > 0) {
    c.alert({
      urgency: 'low',
      incidentKey: `daemon_set-${ds.id}-timeout`,
      description: `daemon set ${ds.id} (${podId}): ${newlyTimedOut.join(', ')} not healthy within ${formatGoDuration(ds.timeoutMs * 1e6)} of getting the new manifest`,
      details: { daemon_set_id: ds.id, pod_id: podId, nodes: newlyTimedOut },
    });
  }

  result.waiting = inFlight + result.replaced.length + result.added.length;
  const deployed = staying.length - result.outdated.length + result.added.length;
  const status: DsStatus = {
    manifest_sha: sha,
    nodes_deployed: deployed,
    replication_in_progress: result.outdated.length > 0 || result.added.length > 0 || inFlight > 0,
    replacing,
    nodes_timed_out: result.timedOut,
  };
  await c.store.put(dsStatusKey(ds.id), encodeDsStatus(status)).catch(() => undefined);
  if (changes.length > 0) c.log.info({ ds: ds.id, ...result }, 'daemon set changed intent');
  return result;
}

function bytesLike(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Options of a {@link DsWorker}. */
export interface DsWorkerOptions extends DsReconcileOptions, RecordWorkerOptions {
  readonly onPass?: (result: DsReconcileResult) => void;
}

/** Runs daemon set passes until stopped or the record is deleted. */
export class DsWorker extends RecordWorker {
  constructor(
    private readonly ctx: ControllerContext,
    readonly dsId: string,
    private readonly options: DsWorkerOptions = {},
  ) {
    super(ctx.store, dsKey(dsId), options);
  }

  #wake: { prefix: string; index: number } | undefined;

  protected override async pass(entry: KvEntry): Promise<void> {
    const ds = decodeDs(entry.value, entry.key);
    // While pods are being replaced, their health decides the next ones: wake on its changes
    // (from the index read before this pass) instead of at the next resync.
    const prefix = `${Prefix.health}${ds.podId}/`;
    const index = (await this.ctx.store.keys(prefix)).index;
    const result = await reconcileDaemonSet(this.ctx, ds, this.options);
    this.#wake = result.waiting > 0 || result.outdated.length > 0 ? { prefix, index } : undefined;
    this.options.onPass?.(result);
  }

  protected override wakeOn(): { prefix: string; index: number } | undefined {
    return this.#wake;
  }
}

/** Options of a {@link DsFarm}. */
export interface DsFarmOptions extends FarmOptions {
  /** How often pods of deleted daemon sets are unscheduled. @default 60_000 */
  readonly orphanSweepMs?: number;
  readonly maxInFlight?: number;
  /** Called after every successful pass of any worker. */
  readonly onPass?: (dsId: string, result: DsReconcileResult) => void;
}

/**
 * Claims daemon sets through `lock/daemon_sets/<id>` and runs a {@link DsWorker} for each; sweeps
 * pods whose daemon set no longer exists (delete intent, remove `daemon_set_id`), as P2's DS farm.
 * Unlike P2, its locks are really released when it stops.
 */
export class DsFarm extends LockFarm {
  constructor(ctx: ControllerContext, options: DsFarmOptions = {}) {
    const labels = ctx.labels ?? new LabelStore(ctx.store, { validate: false });
    const context = { ...ctx, labels };
    let lastSweep = 0;
    super(
      ctx.store,
      {
        name: 'ds',
        recordPrefix: Prefix.daemonSets,
        lockPrefix: lockPrefixes.daemonSets,
        beforePass: async (ids) => {
          if (Date.now() - lastSweep >= (options.orphanSweepMs ?? 60_000)) {
            lastSweep = Date.now();
            await sweepDaemonSetOrphans(ctx.store, labels, new Set(ids));
          }
          return true;
        },
        spawn: (id, session) =>
          new DsWorker(context, id, {
            session,
            resyncMs: options.resyncMs ?? 30_000,
            ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
            onError: (error) => options.onError?.(error, id),
            onPass: (result) => options.onPass?.(id, result),
            onReconcile: (outcome) => options.onReconcile?.(id, outcome),
          }).start(),
      },
      { ...options, pollMs: Math.min(options.pollMs ?? 30_000, options.orphanSweepMs ?? 60_000) },
      ctx.logger,
    );
  }
}

/**
 * Unschedules pods labelled with a `daemon_set_id` that is not in `existing` (one transaction per
 * pod: delete intent, remove the label). Returns the pod label ids swept.
 */
export async function sweepDaemonSetOrphans(
  store: Store,
  labels: LabelStore,
  existing: Set<string>,
): Promise<string[]> {
  const swept: string[] = [];
  for (const r of await labels.select('pod', ReservedLabel.DAEMON_SET_ID)) {
    const dsId = r.labels[ReservedLabel.DAEMON_SET_ID]!;
    if (existing.has(dsId)) continue;
    const parsed = parsePodLabelId(r.id);
    if (!parsed) continue;
    const op = labels.changeOp(r, { remove: [ReservedLabel.DAEMON_SET_ID] });
    try {
      await commit(
        store,
        [{ verb: 'delete', key: intentKey(parsed.node, parsed.podId) }, ...(op ? [op] : [])],
        `sweeping ${r.id}`,
      );
      swept.push(r.id);
    } catch {
      // changed meanwhile: the next sweep sees it again
    }
  }
  return swept;
}
