import { randomUUID } from 'node:crypto';
import {
  byName,
  type ControllerContext,
  commit,
  commitNodeChanges,
  healthState,
  healthyAfter,
  type NodeChange,
  type NodeHealth,
  RcError,
  RcErrorCode,
  RecordWorker,
  type RecordWorkerOptions,
  type ResolvedContext,
  readIntents,
  resolveContext,
  sameManifest,
  storeError,
} from '@p2/controller-kit';
import { compareHealth } from '@p2/health';
import {
  auditLogOp,
  decodeRc,
  decodeRcStatus,
  encodeRcStatus,
  type IndexedLabels,
  intentKey,
  type LabelStore,
  lockKeys,
  parsePodLabelId,
  podLabelId,
  type RcNodeTransfer,
  type RcRecord,
  rcKey,
  rcStatusKey,
  realityKey,
} from '@p2/keyspace';
import type { KvEntry, TxnOp } from '@p2/kv';
import { ReservedLabel } from '@p2/labels';

/** The labels an RC puts on its pods: its `pod_labels` plus `pod_id` and `replication_controller_id` (reserved keys win). */
export function rcPodLabels(rc: RcRecord): Record<string, string> {
  return {
    ...rc.podLabels,
    [ReservedLabel.POD_ID]: rc.manifest.id,
    [ReservedLabel.REPLICATION_CONTROLLER_ID]: rc.id,
  };
}

/** What one reconcile pass did. */
export interface ReconcileResult {
  /** Nodes the RC ran on after the pass, sorted. */
  readonly nodes: string[];
  readonly added: string[];
  readonly removed: string[];
  /** Nodes whose intent was rewritten because it had drifted from the RC's manifest. */
  readonly rewritten: string[];
  /** Node moved off an ineligible node (dynamic strategy), if any. */
  readonly transferred?: { from: string; to: string };
  /** The node transfer the RC's status record shows after the pass (undefined: none). */
  readonly nodeTransfer?: RcNodeTransfer;
}

/** Options of {@link reconcileRc}. */
export interface ReconcileOptions {
  /** A session whose hold on the RC's ownership lock every write proves (`check-session`). */
  readonly session?: string;
  readonly signal?: AbortSignal;
}

/**
 * Nodes where pods carry `replication_controller_id=<id>` (with their label records), from labels —
 * an intent without the label is invisible to the RC, as in P2.
 */
export async function rcCurrentPods(
  labels: LabelStore,
  rcId: string,
): Promise<Map<string, IndexedLabels>> {
  const out = new Map<string, IndexedLabels>();
  for (const r of await labels.select(
    'pod',
    `${ReservedLabel.REPLICATION_CONTROLLER_ID}=${rcId}`,
  )) {
    const parsed = parsePodLabelId(r.id);
    if (parsed) out.set(parsed.node, r);
  }
  return out;
}

/** Maps with at most `limit` calls in flight, keeping order. @internal */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function removalOrder(c: ResolvedContext, podId: string, nodes: string[]): Promise<string[]> {
  // Least healthy first (P2 removed in arbitrary order), then reverse name order, undoing the fill.
  const health = c.health ? await c.health.podHealth(podId) : new Map<string, NodeHealth>();
  return [...nodes].sort((a, b) => {
    const h = compareHealth(healthState(health.get(a)), healthState(health.get(b)));
    return h !== 0 ? h : byName(b, a);
  });
}

/**
 * The per-node writes of an RC, as transaction ops: `schedule` (intent + pod labels), `unschedule`
 * (the reverse), `audit` (a `REPLICATION_CONTROLLER_RETARGET` record). Rolling updates use them to
 * remove an old RC's replicas in the same transaction as the count change.
 *
 * @example await commit(store, rcNodeOps(resolveContext({ store }), rc).unschedule('node1', labels), 'removing');
 */
export function rcNodeOps(c: ResolvedContext, rc: RcRecord) {
  const podId = rc.manifest.id;
  const podLabels = rcPodLabels(rc);
  return {
    async schedule(node: string, existing?: IndexedLabels): Promise<TxnOp[]> {
      const record = existing ?? (await c.labels.get('pod', podLabelId(node, podId)));
      const labelOp = c.labels.changeOp(record, { set: podLabels });
      return [
        {
          verb: 'set',
          key: intentKey(node, podId),
          value: await c.intentBytes(rc.manifest, { kind: 'replication_controllers', id: rc.id }),
        },
        ...(labelOp ? [labelOp] : []),
      ];
    },
    unschedule(node: string, existing: IndexedLabels): TxnOp[] {
      const labelOp = c.labels.changeOp(existing, { remove: Object.keys(podLabels) });
      return [{ verb: 'delete', key: intentKey(node, podId) }, ...(labelOp ? [labelOp] : [])];
    },
    audit(nodes: string[]): TxnOp {
      return auditLogOp('REPLICATION_CONTROLLER_RETARGET', {
        pod_id: podId,
        availability_zone: rc.podLabels[ReservedLabel.AVAILABILITY_ZONE] ?? '',
        cluster_name: rc.podLabels[ReservedLabel.CLUSTER_NAME] ?? '',
        nodes: [...nodes].sort(byName),
      }).op;
    },
  };
}

/**
 * One reconcile pass of an RC (P2's `meetDesires`, spec 03 §1.4): add replicas on nodes the
 * scheduler chooses, remove surplus replicas (ineligible nodes first, then the least healthy), move
 * one replica per pass off an ineligible node for `dynamic_strategy` (health-gated), and rewrite
 * drifted or missing intent on eligible nodes. Add/remove/transfer transactions carry a
 * `REPLICATION_CONTROLLER_RETARGET` audit record. A disabled RC changes nothing but transfers.
 *
 * @throws RcError `P2_RC_NOT_ENOUGH_NODES` (after placing what fits), `P2_RC_TXN_ROLLED_BACK`
 *   (a label changed or the ownership lock was lost meanwhile; the next pass retries), `P2_RC_STORE`
 * @example
 * ```ts
 * const result = await reconcileRc({ store }, (await rcs.get(id)).rc);
 * result.added; // ['node1', 'node2']
 * ```
 */
export async function reconcileRc(
  ctx: ControllerContext,
  rc: RcRecord,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const c = resolveContext(ctx);
  const podId = rc.manifest.id;
  const ops = rcNodeOps(c, rc);
  const proof: TxnOp[] = options.session
    ? [
        {
          verb: 'check-session',
          key: lockKeys.replicationController(rc.id),
          session: options.session,
        },
      ]
    : [];

  // One listing of every pod label record serves both the RC's current set and the CAS indexes
  // of the records new replicas will label (instead of one read per node).
  const podRecords = new Map((await c.labels.list('pod')).map((r) => [r.id, r]));
  let current = new Map<string, IndexedLabels>();
  for (const r of podRecords.values()) {
    if (r.labels[ReservedLabel.REPLICATION_CONTROLLER_ID] !== rc.id) continue;
    const parsed = parsePodLabelId(r.id);
    if (parsed) current.set(parsed.node, r);
  }
  let eligible = await c.scheduler.eligibleNodes(rc.manifest, rc.nodeSelector);
  const added: string[] = [];
  const removed: string[] = [];
  let shortfall: RcError | undefined;

  if (!rc.disabled && rc.replicasDesired > current.size) {
    const need = rc.replicasDesired - current.size;
    const placement = await c.scheduler.allocate({
      manifest: rc.manifest,
      selector: rc.nodeSelector,
      count: need,
      current: [...current.keys()],
      spreadKey: rc.topologySpreadKey,
    });
    const changes: NodeChange[] = [];
    // Read the pod label records 16 at a time (each add is a CAS on the record it read).
    const perNode = await mapLimit(placement.nodes, 16, (node) =>
      ops.schedule(
        node,
        podRecords.get(podLabelId(node, podId)) ?? {
          type: 'pod',
          id: podLabelId(node, podId),
          labels: {},
          index: 0,
        },
      ),
    );
    placement.nodes.forEach((node, i) => {
      changes.push({ node, effect: 'add', ops: perNode[i]! });
    });
    await commitNodeChanges(c.store, changes, {
      proof,
      nodesBefore: current.keys(),
      audit: ops.audit,
      what: `RC ${rc.id}: scheduling ${changes.length} replicas`,
    });
    added.push(...placement.nodes);
    if (placement.nodes.length < need) {
      const description = `Not enough nodes to meet desire: ${rc.replicasDesired} replicas desired, ${current.size} currentNodes, ${eligible.length} eligible. Scheduled on ${placement.nodes.length} nodes instead.`;
      c.alert({
        urgency: 'low',
        incidentKey: rc.id,
        description,
        details: {
          rc_id: rc.id,
          pod_id: podId,
          node_selector: rc.nodeSelector.toString(),
          unfit: placement.unfit,
        },
      });
      shortfall = new RcError(RcErrorCode.NOT_ENOUGH_NODES, `RC ${rc.id}: ${description}`, {
        details: { unfit: placement.unfit },
        hint: 'label more nodes to match the selector, add capacity, or lower the replica count',
      });
    }
  } else if (!rc.disabled && current.size > rc.replicasDesired) {
    const eligibleSet = new Set(eligible);
    const nodes = [...current.keys()];
    const order = [
      ...nodes.filter((n) => !eligibleSet.has(n)).sort(byName),
      ...(await removalOrder(
        c,
        podId,
        nodes.filter((n) => eligibleSet.has(n)),
      )),
    ];
    const victims = order.slice(0, current.size - rc.replicasDesired);
    await commitNodeChanges(
      c.store,
      victims.map((node) => ({
        node,
        effect: 'remove',
        ops: ops.unschedule(node, current.get(node)!),
      })),
      {
        proof,
        nodesBefore: nodes,
        audit: ops.audit,
        what: `RC ${rc.id}: removing ${victims.length} replicas`,
      },
    );
    removed.push(...victims);
  }
  if (added.length > 0 || removed.length > 0) {
    current = await rcCurrentPods(c.labels, rc.id);
    eligible = await c.scheduler.eligibleNodes(rc.manifest, rc.nodeSelector);
  }

  const eligibleSet = new Set(eligible);
  let transferred: { from: string; to: string } | undefined;
  const status = await readStatus(c, rc.id);
  let nodeTransfer = await transferStillInProgress(c, rc, current, status.transfer);
  const ineligible = [...current.keys()].filter((n) => !eligibleSet.has(n)).sort(byName);
  // One transfer at a time, as P2's status record holds one.
  if (!nodeTransfer && ineligible.length > 0 && rc.allocationStrategy === 'dynamic_strategy') {
    const moved = await attemptNodeTransfer(c, rc, current, ineligible[0]!, proof);
    if (moved) {
      transferred = { from: moved.old_node, to: moved.new_node };
      nodeTransfer = moved;
      current = await rcCurrentPods(c.labels, rc.id);
    }
  }
  // The transfer's own transaction wrote the record; otherwise keep it current (and present).
  if (!transferred) await writeStatus(c, rc.id, status, nodeTransfer, proof);

  const rewritten: string[] = [];
  if (!rc.disabled) {
    // Nodes given the manifest in this pass are consistent by construction.
    const justAdded = new Set(added);
    const targets = [...current.keys()]
      .filter((n) => eligibleSet.has(n) && !justAdded.has(n))
      .sort(byName);
    const intents = await readIntents(c.store, targets, podId);
    const sha = rc.manifest.sha();
    const changes: NodeChange[] = [];
    for (const node of targets) {
      const intent = intents.get(node);
      if (intent !== undefined && sameManifest(intent, rc.manifest.raw, sha)) continue;
      changes.push({ node, effect: 'rewrite', ops: await ops.schedule(node, current.get(node)) });
      rewritten.push(node);
    }
    await commitNodeChanges(c.store, changes, {
      proof,
      nodesBefore: [],
      what: `RC ${rc.id}: rewriting drifted intent`,
    });
  }
  const result: ReconcileResult = {
    nodes: [...current.keys()].sort(byName),
    added,
    removed,
    rewritten,
    ...(transferred ? { transferred } : {}),
    ...(nodeTransfer ? { nodeTransfer } : {}),
  };
  if (added.length || removed.length || rewritten.length || transferred) {
    c.log.info({ rc: rc.id, pod: podId, ...result }, 'replication controller changed intent');
  }
  if (shortfall) {
    shortfall.details.result = result;
    throw shortfall;
  }
  return result;
}

/** The RC's status record as read at the start of the transfer step. @internal */
interface ReadStatus {
  /** The record's JSON, undefined when absent. */
  readonly raw?: string;
  readonly transfer?: RcNodeTransfer;
}

async function readStatus(c: ResolvedContext, rcId: string): Promise<ReadStatus> {
  const key = rcStatusKey(rcId);
  let entry: KvEntry | undefined;
  try {
    entry = (await c.store.get(key)).value;
  } catch (cause) {
    throw storeError(`reading ${key}`, cause);
  }
  if (!entry) return {};
  const raw = new TextDecoder().decode(entry.value);
  try {
    return { raw, transfer: decodeRcStatus(entry.value, key).node_transfer };
  } catch (error) {
    // An unreadable record is rewritten with what this pass knows.
    c.log.warn({ rc: rcId, err: error }, 'RC status record unreadable; rewriting it');
    return { raw };
  }
}

/**
 * The transfer the status record shows, if it is still in progress: it completes when the replica
 * on the new node reports `passing` (at once without a health source), and is abandoned when the
 * new node no longer carries the RC's pod (scaled down, moved again, or unscheduled by hand).
 */
async function transferStillInProgress(
  c: ResolvedContext,
  rc: RcRecord,
  current: Map<string, IndexedLabels>,
  transfer: RcNodeTransfer | undefined,
): Promise<RcNodeTransfer | undefined> {
  if (!transfer) return undefined;
  let outcome: 'completed' | 'abandoned' | undefined;
  if (!current.has(transfer.new_node)) outcome = 'abandoned';
  else if (!c.health) outcome = 'completed';
  else if (await healthyOn(c, rc.manifest.id, transfer.new_node)) outcome = 'completed';
  if (!outcome) return transfer;
  c.log.info({ rc: rc.id, ...transfer, outcome }, `node transfer ${outcome}`);
  return undefined;
}

/** Whether the pod on `node` is healthy since its reality entry was written (`healthyAfter`). */
async function healthyOn(c: ResolvedContext, podId: string, node: string): Promise<boolean> {
  if (!c.health) return false;
  const health = (await c.health.podHealth(podId)).get(node);
  if (health?.status !== 'passing') return false;
  try {
    return healthyAfter(health, (await c.store.get(realityKey(node, podId))).value);
  } catch (cause) {
    throw storeError(`reading ${realityKey(node, podId)}`, cause);
  }
}

/**
 * The ops that guard a status write: the RC key must still be at the index read now, so a record
 * is never written for an RC deleted meanwhile. Undefined when the RC is already gone.
 */
async function rcStillThere(c: ResolvedContext, rcId: string): Promise<TxnOp | undefined> {
  let entry: KvEntry | undefined;
  try {
    entry = (await c.store.get(rcKey(rcId))).value;
  } catch (cause) {
    throw storeError(`reading ${rcKey(rcId)}`, cause);
  }
  return entry && { verb: 'check-index', key: rcKey(rcId), index: entry.modifyIndex };
}

/** Writes the status record when it is missing or differs from `transfer` (`{}` when none). */
async function writeStatus(
  c: ResolvedContext,
  rcId: string,
  status: ReadStatus,
  transfer: RcNodeTransfer | undefined,
  proof: TxnOp[],
): Promise<void> {
  const value = encodeRcStatus(transfer ? { node_transfer: transfer } : {});
  if (status.raw === value) return;
  const guard = await rcStillThere(c, rcId);
  if (!guard) return;
  await commit(
    c.store,
    [...proof, guard, { verb: 'set', key: rcStatusKey(rcId), value }],
    `RC ${rcId}: writing its status`,
  );
}

/**
 * Moves the replica on `from` (no longer eligible) to a newly allocated node, in one transaction
 * with an audit record. Allowed when the replica on `from` is not passing, when every current
 * replica is passing, or when the RC is disabled with every replica ineligible (an old RC of a
 * rolling update). Skipped while a rolling update holds the RC's mutation lock, and without a
 * health source. The same transaction sets the status record's `node_transfer`, which later
 * passes clear once the new replica is passing. (P2 needed an external scheduler for this; here
 * the built-in one allocates.)
 */
async function attemptNodeTransfer(
  c: ResolvedContext,
  rc: RcRecord,
  current: Map<string, IndexedLabels>,
  from: string,
  proof: TxnOp[],
): Promise<RcNodeTransfer | undefined> {
  const podId = rc.manifest.id;
  try {
    const lock = (await c.store.get(lockKeys.replicationControllerUpdate(rc.id))).value;
    if (lock?.session) return undefined;
  } catch (cause) {
    throw storeError(`reading ${lockKeys.replicationControllerUpdate(rc.id)}`, cause);
  }
  const allIneligible = rc.disabled && rc.replicasDesired < current.size;
  if (!allIneligible) {
    if (!c.health) {
      c.log.debug({ rc: rc.id }, 'no health source: skipping node transfer');
      return undefined;
    }
    const health = await c.health.podHealth(podId);
    const fromPassing = health.get(from)?.status === 'passing';
    const allPassing = [...current.keys()].every((n) => health.get(n)?.status === 'passing');
    if (fromPassing && !allPassing) return undefined;
  }
  const placement = await c.scheduler.allocate({
    manifest: rc.manifest,
    selector: rc.nodeSelector,
    count: 1,
    current: [...current.keys()],
    spreadKey: rc.topologySpreadKey,
  });
  const to = placement.nodes[0];
  if (to === undefined) return undefined;
  const guard = await rcStillThere(c, rc.id);
  if (!guard) return undefined;
  const ops = rcNodeOps(c, rc);
  const nodesAfter = [...current.keys()].filter((n) => n !== from).concat(to);
  const transfer: RcNodeTransfer = { old_node: from, new_node: to, id: randomUUID() };
  await commit(
    c.store,
    [
      ...proof,
      guard,
      ...ops.unschedule(from, current.get(from)!),
      ...(await ops.schedule(to)),
      ops.audit(nodesAfter),
      { verb: 'set', key: rcStatusKey(rc.id), value: encodeRcStatus({ node_transfer: transfer }) },
    ],
    `RC ${rc.id}: moving a replica from ${from} to ${to}`,
  );
  c.log.info(
    { rc: rc.id, from, to, transfer: transfer.id },
    'moved a replica off an ineligible node',
  );
  return transfer;
}

/** Options of an {@link RcWorker}. */
export interface RcWorkerOptions extends ReconcileOptions, RecordWorkerOptions {
  /** Called after every successful pass. */
  readonly onPass?: (result: ReconcileResult) => void;
}

/**
 * Runs reconcile passes for one RC until stopped or the RC is deleted: a blocking read of the RC
 * key, then a pass, on every change and at least every `resyncMs` (so node label changes are
 * picked up), as P2's worker did.
 */
export class RcWorker extends RecordWorker {
  readonly #c: ResolvedContext;

  constructor(
    private readonly ctx: ControllerContext,
    readonly rcId: string,
    private readonly options: RcWorkerOptions = {},
  ) {
    super(ctx.store, rcKey(rcId), options);
    this.#c = resolveContext(ctx);
  }

  protected override async pass(entry: KvEntry): Promise<void> {
    const rc = decodeRc(entry.value, rcKey(this.rcId));
    const result = await reconcileRc(this.ctx, rc, this.options);
    this.options.onPass?.(result);
  }

  /** Removes the status record a deleter left behind (P2's p2-rctl never wrote nor deleted it). */
  protected override async deleted(): Promise<void> {
    this.#c.log.info({ rc: this.rcId }, 'replication controller deleted; worker stops');
    await commit(
      this.#c.store,
      [
        { verb: 'check-not-exists', key: rcKey(this.rcId) },
        { verb: 'delete', key: rcStatusKey(this.rcId) },
      ],
      `RC ${this.rcId}: deleting its status`,
    ).catch((error: unknown) => {
      // Rolled back: an RC of the same id exists again and owns the record.
      if ((error as { code?: string }).code !== RcErrorCode.TXN_ROLLED_BACK) throw error;
    });
  }

  protected override failed(error: unknown): void {
    this.#c.log.warn(
      { rc: this.rcId, err: error },
      'reconcile pass failed; retrying on the next update',
    );
    super.failed(error);
  }
}
