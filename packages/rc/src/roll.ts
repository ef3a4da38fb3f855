import { hostname } from 'node:os';
import { formatRfc3339Nano } from '@p2/go';
import { compareHealth } from '@p2/health';
import {
  auditLogOp,
  decodeRc,
  decodeRoll,
  decodeRollStatus,
  encodeLabels,
  encodeRc,
  encodeRoll,
  encodeRollStatus,
  type HealthState,
  type IndexedLabels,
  idFromKey,
  labelKey,
  lockKeys,
  lockPrefixes,
  Prefix,
  type RcNodeCounts,
  type RcRecord,
  ROLL_DEFAULTS,
  type RollRecord,
  type RollState,
  type RollStatus,
  type RollStrategy,
  rcKey,
  realityKey,
  rollKey,
  rollStatusKey,
} from '@p2/keyspace';
import { type ManagedSession, type Store, startSession, type TxnOp } from '@p2/kv';
import { ReservedLabel } from '@p2/labels';
import {
  type ControllerContext,
  rcCurrentPods,
  rcNodeOps,
  resolveContext,
  sameManifest,
} from './controller.js';
import { RcError, RcErrorCode } from './errors.js';
import { type FarmOptions, LockFarm } from './farm.js';
import { type HealthSource, StoreHealthSource } from './health.js';
import { capUnavailable, type RollStepResult, rollStep, surgeStep } from './step.js';
import { byName, commit, MAX_TXN_OPS, sleep, storeError } from './util.js';

/** What {@link RollStore.create} needs. */
export interface CreateRollRequest {
  readonly oldRc: string;
  readonly newRc: string;
  readonly desiredReplicas: number;
  readonly minimumReplicas: number;
  readonly leaveOld?: boolean;
  readonly rollDelayMs?: number;
  readonly strategy?: RollStrategy;
  readonly maxSurge?: number;
  readonly maxUnavailable?: number;
  readonly progressDeadlineMs?: number;
  readonly autoRollback?: boolean;
  /** Who started the update (the `ROLLING_UPDATE_CREATION` audit record). */
  readonly deployer?: string;
}

/**
 * Rolling update records at `rolls/<new RC id>` (Go field names, as P2) with their labels and
 * p2's status records.
 */
export class RollStore {
  constructor(private readonly store: Store) {}

  /**
   * Creates a rolling update (create-only, with its `labels/rolls/<id>` record) after checking
   * that both RCs exist, manage the same pod id, `desired ≥ minimum`, and no other update
   * references either RC.
   *
   * @throws RcError `P2_RC_INVALID_REQUEST`, `P2_RC_NOT_FOUND`, `P2_RC_ROLL_CONFLICT`, `P2_RC_STORE`
   */
  async create(request: CreateRollRequest): Promise<RollRecord> {
    const { deployer, ...fields } = request;
    const ru: RollRecord = { ...ROLL_DEFAULTS, ...fields };
    const bad = (m: string) =>
      new RcError(RcErrorCode.INVALID_REQUEST, `rolling update ${ru.oldRc} → ${ru.newRc}: ${m}`);
    if (ru.oldRc === ru.newRc) throw bad('old and new RC are the same');
    for (const [name, v] of [
      ['desired', ru.desiredReplicas],
      ['minimum', ru.minimumReplicas],
      ['maxSurge', ru.maxSurge],
      ['maxUnavailable', ru.maxUnavailable],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0)
        throw bad(`${name} must be a non-negative integer, got ${v}`);
    }
    if (ru.desiredReplicas < ru.minimumReplicas) {
      throw bad(`desired (${ru.desiredReplicas}) must be at least minimum (${ru.minimumReplicas})`);
    }
    if (ru.rollDelayMs < 0 || ru.progressDeadlineMs < 0) throw bad('delays must not be negative');
    const [oldRc, newRc] = await Promise.all([
      readRc(this.store, ru.oldRc),
      readRc(this.store, ru.newRc),
    ]);
    if (oldRc.rc.manifest.id !== newRc.rc.manifest.id) {
      throw bad(
        `the RCs manage different pods (${oldRc.rc.manifest.id} vs ${newRc.rc.manifest.id})`,
      );
    }
    for (const other of await this.list()) {
      for (const id of [ru.oldRc, ru.newRc]) {
        if (other.oldRc === id || other.newRc === id) {
          throw new RcError(
            RcErrorCode.ROLL_CONFLICT,
            `A deploy is already in progress (rolling update ${other.newRc} conflicts on RC ${id})`,
            {
              hint: `wait for it, or cancel it with \`p2 roll cancel ${other.newRc}\``,
              details: { conflict: other.newRc },
            },
          );
        }
      }
    }
    const podLabels = newRc.rc.podLabels;
    const labels: Record<string, string> = { [ReservedLabel.POD_ID]: newRc.rc.manifest.id };
    for (const k of [ReservedLabel.AVAILABILITY_ZONE, ReservedLabel.CLUSTER_NAME]) {
      if (podLabels[k] !== undefined) labels[k] = podLabels[k];
    }
    const ops: TxnOp[] = [
      { verb: 'cas', key: rollKey(ru.newRc), value: encodeRoll(ru), index: 0 },
      { verb: 'cas', key: labelKey('rolls', ru.newRc), value: encodeLabels(labels), index: 0 },
      { verb: 'delete', key: rollStatusKey(ru.newRc) },
      auditLogOp('ROLLING_UPDATE_CREATION', {
        pod_id: newRc.rc.manifest.id,
        availability_zone: labels[ReservedLabel.AVAILABILITY_ZONE] ?? '',
        cluster_name: labels[ReservedLabel.CLUSTER_NAME] ?? '',
        deployer: deployer ?? '',
        manifest: newRc.rc.manifest.text(),
        rolling_update_id: ru.newRc,
      }).op,
    ];
    try {
      await commit(this.store, ops, `creating rolling update ${ru.newRc}`);
    } catch (error) {
      if (error instanceof RcError && error.code === RcErrorCode.TXN_ROLLED_BACK) {
        throw new RcError(
          RcErrorCode.ROLL_CONFLICT,
          `a rolling update for RC ${ru.newRc} already exists`,
          { cause: error },
        );
      }
      throw error;
    }
    return ru;
  }

  /** One update with its index; `undefined` when absent. @throws RcError `P2_RC_INVALID_RECORD`, `P2_RC_STORE` */
  async get(id: string): Promise<{ roll: RollRecord; index: number } | undefined> {
    let entry: Awaited<ReturnType<Store['get']>>['value'];
    try {
      entry = (await this.store.get(rollKey(id))).value;
    } catch (cause) {
      throw storeError(`reading ${rollKey(id)}`, cause);
    }
    return entry
      ? { roll: decodeRoll(entry.value, entry.key), index: entry.modifyIndex }
      : undefined;
  }

  /** Every readable update. @throws RcError `P2_RC_STORE` */
  async list(): Promise<RollRecord[]> {
    let entries: Awaited<ReturnType<Store['list']>>['value'];
    try {
      entries = (await this.store.list(Prefix.rolls)).value;
    } catch (cause) {
      throw storeError(`listing ${Prefix.rolls}`, cause);
    }
    const out: RollRecord[] = [];
    for (const e of entries) {
      if (idFromKey(Prefix.rolls, e.key) === undefined) continue;
      try {
        out.push(decodeRoll(e.value, e.key));
      } catch {
        // an unreadable record blocks nothing here; `get` reports it
      }
    }
    return out;
  }

  /** The status record, if the update has run. */
  async status(id: string): Promise<RollStatus | undefined> {
    const entry = (
      await this.store.get(rollStatusKey(id)).catch((cause) => {
        throw storeError(`reading ${rollStatusKey(id)}`, cause);
      })
    ).value;
    if (!entry) return undefined;
    try {
      return decodeRollStatus(entry.value, entry.key);
    } catch (cause) {
      throw new RcError(RcErrorCode.INVALID_RECORD, `${entry.key}: not valid JSON`, {
        cause,
        hint: 'delete the status key; the next run writes a fresh one',
      });
    }
  }

  /** Pauses: the runner makes no step until {@link RollStore.resume}. @throws RcError `P2_RC_NOT_FOUND`, `P2_RC_CONFLICT` */
  pause(id: string): Promise<RollRecord> {
    return this.#mutate(id, (r) => ({ ...r, paused: true }));
  }

  /** Resumes a paused update; also clears a `failed` state so the runner tries again with a fresh deadline. */
  async resume(id: string): Promise<RollRecord> {
    const roll = await this.#mutate(id, (r) => ({ ...r, paused: false }));
    const status = await this.status(id);
    if (status?.state === 'failed') {
      await this.store.put(
        rollStatusKey(id),
        encodeRollStatus({
          ...status,
          state: 'rolling',
          message: 'resumed after failure',
          lastProgressAt: formatRfc3339Nano(new Date()),
        }),
      );
    }
    return roll;
  }

  /**
   * Cancels: deletes the update and its labels. A running update stops at its next step; the RCs
   * stay where they are (P2 behaviour).
   */
  async cancel(id: string): Promise<void> {
    await commit(
      this.store,
      [
        { verb: 'delete', key: rollKey(id) },
        { verb: 'delete', key: labelKey('rolls', id) },
      ],
      `cancelling rolling update ${id}`,
    );
  }

  async #mutate(id: string, fn: (r: RollRecord) => RollRecord): Promise<RollRecord> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.get(id);
      if (!current) throw new RcError(RcErrorCode.NOT_FOUND, `rolling update ${id} does not exist`);
      const next = fn(current.roll);
      if (await this.store.cas(rollKey(id), encodeRoll(next), current.index)) return next;
    }
    throw new RcError(
      RcErrorCode.CONFLICT,
      `rolling update ${id} kept changing while being updated`,
    );
  }
}

async function readRc(store: Store, id: string): Promise<{ rc: RcRecord; index: number }> {
  let entry: Awaited<ReturnType<Store['get']>>['value'];
  try {
    entry = (await store.get(rcKey(id))).value;
  } catch (cause) {
    throw storeError(`reading ${rcKey(id)}`, cause);
  }
  if (!entry)
    throw new RcError(RcErrorCode.NOT_FOUND, `replication controller ${id} does not exist`, {
      details: { id },
    });
  return { rc: decodeRc(entry.value, entry.key), index: entry.modifyIndex };
}

/**
 * Counts an RC's replicas for a rolling update (spec 03 §2.5): a pod is real when its reality
 * matches the RC's manifest; real pods are healthy (`passing`), unhealthy (`warning`,
 * `critical`) or unknown (`unknown`, no result). Desired-but-unlabelled replicas count as unknown.
 */
export async function countReplicas(
  store: Store,
  current: Map<string, IndexedLabels>,
  rc: RcRecord,
  health: Map<string, HealthState>,
): Promise<RcNodeCounts> {
  const counts: RcNodeCounts = {
    desired: rc.replicasDesired,
    current: current.size,
    real: 0,
    healthy: 0,
    unhealthy: 0,
    unknown: Math.max(0, rc.replicasDesired - current.size),
  };
  const nodes = [...current.keys()];
  const reality = await readRealities(store, nodes, rc.manifest.id);
  const sha = rc.manifest.sha();
  for (const node of nodes) {
    const r = reality.get(node);
    if (r === undefined || !sameManifest(r, rc.manifest.raw, sha)) continue;
    counts.real++;
    const h = health.get(node);
    if (h === 'passing') counts.healthy++;
    else if (h === undefined || h === 'unknown') counts.unknown++;
    else counts.unhealthy++;
  }
  return counts;
}

async function readRealities(
  store: Store,
  nodes: string[],
  podId: string,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  await Promise.all(
    nodes.map(async (node) => {
      try {
        const e = (await store.get(realityKey(node, podId))).value;
        if (e) out.set(node, e.value);
      } catch (cause) {
        throw storeError(`reading ${realityKey(node, podId)}`, cause);
      }
    }),
  );
  return out;
}

/** How a run of a rolling update ended. */
export type RollOutcome =
  | 'succeeded'
  | 'failed'
  | 'rolled_back'
  | 'cancelled'
  /** Another actor holds an RC's mutation lock; try later. */
  | 'locked'
  /** Stopped through the signal or a lost session; the update can be resumed by a later run. */
  | 'interrupted';

/** Options of {@link runRollingUpdate}. */
export interface RunRollOptions {
  /** How often counts and health are re-read. @default 1_000 */
  readonly pollMs?: number;
  /** TTL of the run's session. @default 15_000 */
  readonly sessionTtlMs?: number;
  readonly signal?: AbortSignal;
  /** Called with the status after every change. */
  readonly onStatus?: (status: RollStatus) => void;
  /** The clock (tests). @default Date.now */
  readonly now?: () => number;
}

/**
 * Runs a rolling update to its end (spec 03 §2.4–2.5, plus what P2 lacked). The update only moves
 * desired counts between the RCs — atomically, under both RCs' mutation locks — and unschedules
 * surplus old replicas itself (least healthy first); the RCs' own workers place the new pods.
 *
 * - `unavailable`: P2's step (old healthy + new healthy never below `minimum`), capped at
 *   `maxUnavailable` removals per step; `surge`: new replicas first, up to `maxSurge` above the
 *   target, old ones removed as new ones become healthy.
 * - Progress deadline: when the count of healthy new replicas has not grown for
 *   `progressDeadlineMs`, the update fails; with a deadline set, success also requires every new
 *   replica to be healthy (P2 declared success as soon as the pods were scheduled).
 * - Failure with `autoRollback`: counts move back in one transaction (old RC re-enabled at its
 *   original count, new RC to 0), the update record goes, the status says `rolled_back`.
 * - Pause/resume through the record's `Paused` flag; cancel by deleting the record.
 *
 * @throws RcError `P2_RC_NOT_FOUND` (an RC is missing), `P2_RC_INVALID_RECORD`, `P2_RC_STORE`
 */
export async function runRollingUpdate(
  ctx: ControllerContext,
  id: string,
  options: RunRollOptions = {},
): Promise<RollOutcome> {
  const c = resolveContext(ctx);
  const store = c.store;
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 1_000;
  const health: HealthSource = c.health ?? new StoreHealthSource(store);
  const rolls = new RollStore(store);
  const first = await rolls.get(id);
  if (!first) return 'cancelled';
  const { oldRc: oldId, newRc: newId } = first.roll;
  const prior = await rolls.status(id);
  if (prior?.state === 'failed') return 'failed';

  let session: ManagedSession;
  try {
    session = await startSession(store, {
      name: `ru-farm:${hostname()}:${id}`,
      ttlMs: options.sessionTtlMs ?? 15_000,
      lockDelayMs: 0,
      behavior: 'delete',
    });
  } catch (cause) {
    throw storeError(`creating a session for rolling update ${id}`, cause);
  }
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  session.lost.addEventListener('abort', onAbort, { once: true });
  const proof: TxnOp[] = [oldId, newId].map((rc) => ({
    verb: 'check-session',
    key: lockKeys.replicationControllerUpdate(rc),
    session: session.id,
  }));
  try {
    const locked = await store.txn(
      [oldId, newId].map((rc) => ({
        verb: 'lock',
        key: lockKeys.replicationControllerUpdate(rc),
        value: `ru ${id}`,
        session: session.id,
      })),
    );
    if (!locked.committed) return 'locked';

    // Enable: old RC disabled (its pods are removed by this update), new RC enabled.
    const oldStart = await readRc(store, oldId);
    const newStart = await readRc(store, newId);
    if (newStart.rc.disabled) {
      const newPods = await rcCurrentPods(c.labels, newId);
      if (newPods.size !== newStart.rc.replicasDesired) {
        throw new RcError(
          RcErrorCode.CONFLICT,
          `new RC ${newId} is disabled with ${newPods.size} labelled pods but wants ${newStart.rc.replicasDesired}; refusing to enable it mid-way`,
          { hint: 'wait for its pods to settle, or fix its replica count' },
        );
      }
    }
    await commit(
      store,
      [
        ...proof,
        {
          verb: 'cas',
          key: rcKey(oldId),
          value: encodeRc({ ...oldStart.rc, disabled: true }),
          index: oldStart.index,
        },
        {
          verb: 'cas',
          key: rcKey(newId),
          value: encodeRc({ ...newStart.rc, disabled: false }),
          index: newStart.index,
        },
      ],
      `rolling update ${id}: enabling the new RC`,
    );
    const startedAt = prior?.startedAt ?? formatRfc3339Nano(new Date(now()));
    const originalOld = prior?.originalOldReplicas ?? oldStart.rc.replicasDesired;
    const originalTotal =
      prior?.originalTotal ?? oldStart.rc.replicasDesired + newStart.rc.replicasDesired;
    let lastProgress = now();
    let bestNewHealthy = -1;
    let lastStepAt = 0;
    let wasPaused = false;
    let status: RollStatus | undefined;
    const publish = async (
      state: RollState,
      message: string,
      counts?: { old: RcNodeCounts; new: RcNodeCounts },
    ) => {
      status = {
        state,
        message,
        originalOldReplicas: originalOld,
        originalTotal,
        startedAt,
        lastProgressAt: formatRfc3339Nano(new Date(lastProgress)),
        updatedAt: formatRfc3339Nano(new Date(now())),
        ...(counts ?? {}),
      };
      await store.put(rollStatusKey(id), encodeRollStatus(status)).catch(() => undefined);
      options.onStatus?.(status);
    };
    await publish('rolling', 'started');

    while (!stop.signal.aborted) {
      const current = await rolls.get(id);
      if (!current) {
        await publish('cancelled', 'the rolling update was deleted');
        return 'cancelled';
      }
      const ru = current.roll;
      if (ru.paused) {
        if (!wasPaused) await publish('paused', 'paused by an operator');
        wasPaused = true;
        await sleep(pollMs, stop.signal);
        continue;
      }
      if (wasPaused) {
        wasPaused = false;
        lastProgress = now(); // the deadline does not run while paused
      }
      const [oldRc, newRc] = await Promise.all([readRc(store, oldId), readRc(store, newId)]);
      const [oldPods, newPods] = await Promise.all([
        rcCurrentPods(c.labels, oldId),
        rcCurrentPods(c.labels, newId),
      ]);
      const podHealth = await health.podHealth(newRc.rc.manifest.id);
      const oldCounts = await countReplicas(store, oldPods, oldRc.rc, podHealth);
      const newCounts = await countReplicas(store, newPods, newRc.rc, podHealth);
      const counts = { old: oldCounts, new: newCounts };
      const target = ru.desiredReplicas;

      if (newCounts.healthy > bestNewHealthy) {
        bestNewHealthy = newCounts.healthy;
        lastProgress = now();
      }
      const total = Math.max(target, originalTotal);
      const healthyEnough = ru.progressDeadlineMs === 0 || newCounts.healthy >= target;
      const drained = ru.strategy !== 'surge' || oldCounts.desired + newCounts.desired <= total;
      if (newCounts.desired >= target && newCounts.current >= target && healthyEnough && drained) {
        await finish(ru, oldRc, newRc, oldPods, podHealth);
        await publish(
          'succeeded',
          `${newCounts.current} replicas of the new RC are scheduled`,
          counts,
        );
        return 'succeeded';
      }
      if (ru.progressDeadlineMs > 0 && now() - lastProgress > ru.progressDeadlineMs) {
        const message = `no new replica became healthy for ${ru.progressDeadlineMs} ms (${newCounts.healthy}/${target} healthy)`;
        if (!ru.autoRollback) {
          await publish('failed', message, counts);
          return 'failed';
        }
        await rollback(oldRc, newRc, originalOld, message);
        await publish('rolled_back', `${message}; rolled back to RC ${oldId}`, counts);
        return 'rolled_back';
      }
      if (now() - lastStepAt < ru.rollDelayMs && newCounts.desired > 0) {
        await publish('rolling', 'waiting for the roll delay', counts);
        await sleep(pollMs, stop.signal);
        continue;
      }
      const input = {
        oldHealthy: Math.min(oldCounts.healthy, oldCounts.desired),
        newHealthy: newCounts.healthy,
        oldDesired: oldCounts.desired,
        newDesired: newCounts.desired,
        target,
        minimum: ru.minimumReplicas,
      };
      const step: RollStepResult =
        ru.strategy === 'surge'
          ? surgeStep({ ...input, maxSurge: ru.maxSurge, total })
          : capUnavailable(rollStep(input), ru.maxUnavailable);
      if (step.add === 0 && step.remove === 0) {
        await publish(
          'rolling',
          `blocking for more healthy replicas (${newCounts.healthy} new healthy, ${oldCounts.healthy} old healthy, minimum ${ru.minimumReplicas})`,
          counts,
        );
        await sleep(pollMs, stop.signal);
        continue;
      }
      try {
        await transfer(oldRc, newRc, oldPods, podHealth, step);
        lastStepAt = now();
        c.log.info({ roll: id, ...step }, 'rolling update step');
        await publish('rolling', `moved ${step.remove} from old, ${step.add} to new`, counts);
      } catch (error) {
        // A CAS or lock check failed: someone else changed an RC. Re-read and try again.
        if (
          !(
            error instanceof RcError &&
            (error.code === RcErrorCode.TXN_ROLLED_BACK || error.code === RcErrorCode.CONFLICT)
          )
        ) {
          throw error;
        }
        c.log.debug({ roll: id, err: error }, 'roll step lost a race; retrying');
      }
      await sleep(pollMs, stop.signal);
    }
    return 'interrupted';
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await commit(
      store,
      [oldId, newId].flatMap((rc): TxnOp[] => [
        {
          verb: 'check-session',
          key: lockKeys.replicationControllerUpdate(rc),
          session: session.id,
        },
        { verb: 'delete', key: lockKeys.replicationControllerUpdate(rc) },
      ]),
      'releasing rolling update locks',
    ).catch(() => undefined);
    await session.destroy().catch(() => undefined);
  }

  function victims(
    oldRc: RcRecord,
    oldPods: Map<string, IndexedLabels>,
    podHealth: Map<string, HealthState>,
    keep: number,
    maxNodes = Number.POSITIVE_INFINITY,
  ): TxnOp[] {
    const surplus = Math.min(oldPods.size - keep, maxNodes);
    if (surplus <= 0) return [];
    const ops = rcNodeOps(c, oldRc);
    const order = [...oldPods.keys()].sort((a, b) => {
      const h = compareHealth(podHealth.get(a) ?? 'unknown', podHealth.get(b) ?? 'unknown');
      return h !== 0 ? h : byName(b, a);
    });
    return order.slice(0, surplus).flatMap((node) => ops.unschedule(node, oldPods.get(node)!));
  }

  async function transfer(
    oldRc: { rc: RcRecord; index: number },
    newRc: { rc: RcRecord; index: number },
    oldPods: Map<string, IndexedLabels>,
    podHealth: Map<string, HealthState>,
    step: RollStepResult,
  ): Promise<void> {
    const oldDesired = Math.max(0, oldRc.rc.replicasDesired - step.remove);
    const ops: TxnOp[] = [
      ...proof,
      {
        verb: 'cas',
        key: rcKey(newId),
        value: encodeRc({ ...newRc.rc, replicasDesired: newRc.rc.replicasDesired + step.add }),
        index: newRc.index,
      },
      {
        verb: 'cas',
        key: rcKey(oldId),
        value: encodeRc({ ...oldRc.rc, replicasDesired: oldDesired }),
        index: oldRc.index,
      },
    ];
    // Old pods go in the same transaction, so the new RC never sees the count before the room.
    // At most 2 ops per node; what does not fit is removed on the next pass.
    const removals = victims(
      oldRc.rc,
      oldPods,
      podHealth,
      oldDesired,
      Math.floor((MAX_TXN_OPS - ops.length) / 2),
    );
    await commit(store, [...ops, ...removals], `rolling update ${id}: step`);
  }

  async function finish(
    ru: RollRecord,
    oldRc: { rc: RcRecord; index: number },
    newRc: { rc: RcRecord; index: number },
    oldPods: Map<string, IndexedLabels>,
    podHealth: Map<string, HealthState>,
  ): Promise<void> {
    const ops: TxnOp[] = [...proof];
    if (!ru.leaveOld) {
      if (oldRc.rc.replicasDesired !== 0) {
        c.alert({
          urgency: 'low',
          incidentKey: `roll-${id}`,
          description: `old RC ${oldId} still wants ${oldRc.rc.replicasDesired} replicas at the end of rolling update ${id}; leaving it in place`,
        });
      } else {
        // Remove what is left of the old RC (P2 waited for it forever when the new RC used other nodes).
        const perTxn = Math.floor((MAX_TXN_OPS - proof.length) / 2);
        let left = oldPods;
        // Each round removes up to perTxn replicas; the bound only guards against a label that
        // will not go (the run then ends with an error and is retried later).
        for (let round = 0; left.size > 0; round++) {
          if (round > oldPods.size + 3) {
            throw new RcError(
              RcErrorCode.CONFLICT,
              `rolling update ${id}: old RC ${oldId} keeps ${left.size} labelled pods`,
            );
          }
          await commit(
            store,
            [...proof, ...victims(oldRc.rc, left, podHealth, 0, perTxn)],
            `rolling update ${id}: removing old replicas`,
          );
          left = await rcCurrentPods(c.labels, oldId);
        }
        const fresh = await readRc(store, oldId);
        ops.push(
          { verb: 'delete-cas', key: rcKey(oldId), index: fresh.index },
          { verb: 'delete', key: labelKey('replication_controller', oldId) },
        );
      }
    }
    ops.push(
      { verb: 'delete', key: rollKey(id) },
      { verb: 'delete', key: labelKey('rolls', id) },
      completionAudit(newRc.rc, true, false),
    );
    await commit(store, ops, `rolling update ${id}: finishing`);
  }

  async function rollback(
    oldRc: { rc: RcRecord; index: number },
    newRc: { rc: RcRecord; index: number },
    originalOld: number,
    reason: string,
  ): Promise<void> {
    c.log.warn({ roll: id, reason }, 'rolling update failed; rolling back');
    await commit(
      store,
      [
        ...proof,
        {
          verb: 'cas',
          key: rcKey(oldId),
          value: encodeRc({ ...oldRc.rc, disabled: false, replicasDesired: originalOld }),
          index: oldRc.index,
        },
        {
          verb: 'cas',
          key: rcKey(newId),
          value: encodeRc({ ...newRc.rc, disabled: false, replicasDesired: 0 }),
          index: newRc.index,
        },
        { verb: 'delete', key: rollKey(id) },
        { verb: 'delete', key: labelKey('rolls', id) },
        completionAudit(newRc.rc, false, false),
      ],
      `rolling update ${id}: rolling back`,
    );
  }

  function completionAudit(newRc: RcRecord, succeeded: boolean, canceled: boolean): TxnOp {
    return auditLogOp('ROLLING_UPDATE_COMPLETION', {
      pod_id: newRc.manifest.id,
      availability_zone: newRc.podLabels[ReservedLabel.AVAILABILITY_ZONE] ?? '',
      cluster_name: newRc.podLabels[ReservedLabel.CLUSTER_NAME] ?? '',
      rolling_update_id: id,
      succeeded,
      canceled,
    }).op;
  }
}

/** Options of a {@link RollFarm}. */
export interface RollFarmOptions extends FarmOptions {
  /** Passed to each run. @default 1_000 */
  readonly rollPollMs?: number;
  /** Called with each run's outcome. */
  readonly onOutcome?: (id: string, outcome: RollOutcome) => void;
}

/**
 * Claims rolling updates through `lock/rolls/<id>` and runs each one ({@link runRollingUpdate});
 * a run that ends without finishing (`locked`, `interrupted`) is released and picked up again on a
 * later pass. Failed updates are left alone until an operator resumes or cancels them. (P2's roll
 * farm was wired incompletely in its server; this one runs updates end to end.)
 *
 * @example
 * ```ts
 * const farm = new RollFarm({ store }).start();
 * ```
 */
export class RollFarm {
  readonly #farm: LockFarm;

  constructor(ctx: ControllerContext, options: RollFarmOptions = {}) {
    const rolls = new RollStore(ctx.store);
    this.#farm = new LockFarm(
      ctx.store,
      {
        name: 'roll',
        recordPrefix: Prefix.rolls,
        lockPrefix: lockPrefixes.rolls,
        accept: async (id) => (await rolls.status(id))?.state !== 'failed',
        spawn: (id) => {
          const abort = new AbortController();
          const done = runRollingUpdate(ctx, id, {
            signal: abort.signal,
            pollMs: options.rollPollMs ?? 1_000,
            ...(options.sessionTtlMs === undefined ? {} : { sessionTtlMs: options.sessionTtlMs }),
          }).then(
            (outcome) => options.onOutcome?.(id, outcome),
            (error: unknown) => options.onError?.(error, id),
          );
          return {
            done,
            stop: async () => {
              abort.abort();
              await done;
            },
          };
        },
      },
      options,
      ctx.logger,
    );
  }

  /** Update ids this farm currently runs. */
  get owned(): string[] {
    return this.#farm.owned;
  }

  /** Starts the farm (idempotent). */
  start(): this {
    this.#farm.start();
    return this;
  }

  /** Stops every run (they can be resumed by a later run), releases the locks, destroys the session. */
  stop(): Promise<void> {
    return this.#farm.stop();
  }
}
