/**
 * Runs one rolling update to its end: a loop of passes, each reading counts and health and taking
 * at most one step, with a progress deadline and rollback.
 */
import {
  type ControllerContext,
  type HealthSource,
  type NodeHealth,
  RcError,
  RcErrorCode,
  resolveContext,
  StoreHealthSource,
  sleep,
} from '@p2/controller-kit';
import { formatGoDuration, formatRfc3339Nano } from '@p2/go';
import {
  encodeRollStatus,
  type GateReport,
  type IndexedLabels,
  type RcNodeCounts,
  type RollRecord,
  type RollState,
  type RollStatus,
  rollStatusKey,
} from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { rcCurrentPods } from '@p2/rc';
import { countReplicas, gateReports, revertedNodes } from './count.js';
import { RollStore, readRc } from './roll-store.js';
import {
  enableNewRc,
  endRun,
  finish,
  type IndexedRc,
  lockBothRcs,
  type RollRun,
  rollBack,
  startRun,
  transfer,
} from './roll-writes.js';
import { capUnavailable, type RollStepResult, rollStep, surgeStep } from './step.js';

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
 * - Metric gate (`metricGate`): a new replica counts as healthy only once its preparer reports
 *   that its metrics held the gate for the soak time; a replica that fails it fails the update
 *   (or rolls it back), and success needs every new replica to pass.
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
  const now = options.now ?? Date.now;
  const health: HealthSource = c.health ?? new StoreHealthSource(c.store);
  const rolls = new RollStore(c.store);
  const first = await rolls.get(id);
  if (!first) return 'cancelled';
  const prior = await rolls.status(id);
  if (prior?.state === 'failed') return 'failed';

  const run = await startRun(c, first.roll, id, options.sessionTtlMs ?? 15_000);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  run.session.lost.addEventListener('abort', onAbort, { once: true });
  try {
    if (!(await lockBothRcs(run))) return 'locked';
    const start = await enableNewRc(run);
    const progress = new RollProgress(c.store, id, now, prior, start, options.onStatus);
    await progress.publish('rolling', 'started');
    while (!stop.signal.aborted) {
      const outcome = await rollPass(run, rolls, health, progress);
      if (outcome !== undefined) return outcome;
      await sleep(options.pollMs ?? 1_000, stop.signal);
    }
    return 'interrupted';
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await endRun(run);
  }
}

/** Both RCs' counts in one pass. */
interface RollCounts {
  old: RcNodeCounts;
  new: RcNodeCounts;
}

/** What one pass reads: both RCs, the old RC's pods, the pod's health, and the counts. */
interface RollSnapshot {
  readonly oldRc: IndexedRc;
  readonly newRc: IndexedRc;
  readonly oldPods: Map<string, IndexedLabels>;
  readonly podHealth: Map<string, NodeHealth>;
  readonly counts: RollCounts;
  /** Nodes whose preparer reverted the new RC's manifest (it did not get healthy there). */
  readonly reverted: string[];
  /** A metric-gated update's verdicts on its new replicas, by node. */
  readonly gates?: Map<string, GateReport>;
}

/**
 * What a run remembers between passes (the deadline clock, the best healthy count, the last step)
 * and publishes as the status record.
 */
class RollProgress {
  /** When the healthy count of the new RC last grew (or the run started or resumed). */
  lastProgress: number;
  bestNewHealthy = -1;
  lastStepAt = 0;
  wasPaused = false;
  /** The old RC's count when the update first ran (what a rollback restores). */
  readonly originalOld: number;
  /** Old + new counts when the update first ran (what `surge` converges back to). */
  readonly originalTotal: number;
  readonly #startedAt: string;

  constructor(
    private readonly store: Store,
    private readonly id: string,
    readonly now: () => number,
    prior: RollStatus | undefined,
    start: { old: IndexedRc; new: IndexedRc },
    private readonly onStatus?: (status: RollStatus) => void,
  ) {
    this.#startedAt = prior?.startedAt ?? formatRfc3339Nano(new Date(now()));
    this.originalOld = prior?.originalOldReplicas ?? start.old.rc.replicasDesired;
    this.originalTotal =
      prior?.originalTotal ?? start.old.rc.replicasDesired + start.new.rc.replicasDesired;
    this.lastProgress = now();
  }

  /** Restarts the deadline clock when the new RC has more healthy replicas than ever before. */
  noteHealthy(newHealthy: number): void {
    if (newHealthy > this.bestNewHealthy) {
      this.bestNewHealthy = newHealthy;
      this.lastProgress = this.now();
    }
  }

  /** Writes the status record (best effort) and tells `onStatus`. */
  async publish(state: RollState, message: string, counts?: RollCounts): Promise<void> {
    const status: RollStatus = {
      state,
      message,
      originalOldReplicas: this.originalOld,
      originalTotal: this.originalTotal,
      startedAt: this.#startedAt,
      lastProgressAt: formatRfc3339Nano(new Date(this.lastProgress)),
      updatedAt: formatRfc3339Nano(new Date(this.now())),
      ...(counts ?? {}),
    };
    await this.store.put(rollStatusKey(this.id), encodeRollStatus(status)).catch(() => undefined);
    this.onStatus?.(status);
  }
}

/**
 * One pass: re-read the update (deleted → cancelled; paused → wait), read counts and health, then
 * finish, fail (or roll back) past the deadline, wait for the roll delay, or take one step.
 * Returns the outcome when the run ends, `undefined` to run another pass after `pollMs`.
 */
async function rollPass(
  run: RollRun,
  rolls: RollStore,
  health: HealthSource,
  progress: RollProgress,
): Promise<RollOutcome | undefined> {
  const current = await rolls.get(run.id);
  if (!current) {
    await progress.publish('cancelled', 'the rolling update was deleted');
    return 'cancelled';
  }
  const ru = current.roll;
  if (ru.paused) {
    if (!progress.wasPaused) await progress.publish('paused', 'paused by an operator');
    progress.wasPaused = true;
    return undefined;
  }
  if (progress.wasPaused) {
    progress.wasPaused = false;
    progress.lastProgress = progress.now(); // the deadline does not run while paused
  }
  const seen = await readSnapshot(run, health, ru.metricGate !== undefined);
  const { counts } = seen;
  progress.noteHealthy(counts.new.healthy);
  const total = Math.max(ru.desiredReplicas, progress.originalTotal);
  if (isComplete(ru, counts, total)) {
    await finish(run, ru, seen.oldRc, seen.newRc, seen.oldPods, seen.podHealth);
    await progress.publish(
      'succeeded',
      `${counts.new.current} replicas of the new RC are scheduled`,
      counts,
    );
    return 'succeeded';
  }
  if (seen.reverted.length > 0)
    return giveUp(
      run,
      ru,
      seen,
      progress,
      `the new version was reverted by the preparer on ${seen.reverted.join(', ')} (not healthy in time)`,
    );
  const gateFailed = [...(seen.gates ?? [])].filter(([, r]) => r.state === 'failed');
  if (gateFailed.length > 0)
    return giveUp(
      run,
      ru,
      seen,
      progress,
      `the metric gate failed on ${gateFailed.map(([node, r]) => `${node} (${r.reason ?? 'no reason'})`).join(', ')}`,
    );
  if (ru.progressDeadlineMs > 0 && progress.now() - progress.lastProgress > ru.progressDeadlineMs) {
    return giveUp(run, ru, seen, progress);
  }
  if (progress.now() - progress.lastStepAt < ru.rollDelayMs && counts.new.desired > 0) {
    await progress.publish('rolling', 'waiting for the roll delay', counts);
    return undefined;
  }
  const step = nextStep(ru, counts, total);
  if (step.add === 0 && step.remove === 0) {
    await progress.publish(
      'rolling',
      `blocking for more healthy replicas (${counts.new.healthy} new healthy, ${counts.old.healthy} old healthy, minimum ${ru.minimumReplicas}${soakingNote(seen)})`,
      counts,
    );
    return undefined;
  }
  await takeStep(run, seen, step, progress);
  return undefined;
}

/** `, n soaking` while new replicas soak their metric gate. */
function soakingNote(seen: RollSnapshot): string {
  const soaking = [...(seen.gates?.values() ?? [])].filter((r) => r.state === 'soaking').length;
  return soaking > 0 ? `, ${soaking} soaking the metric gate` : '';
}

/**
 * Reads both RCs, their labelled pods, the pod's health (and with `gated`, the new replicas'
 * metric gate reports), and counts each RC's replicas.
 */
async function readSnapshot(
  run: RollRun,
  health: HealthSource,
  gated: boolean,
): Promise<RollSnapshot> {
  const { c, oldId, newId } = run;
  const [oldRc, newRc] = await Promise.all([readRc(c.store, oldId), readRc(c.store, newId)]);
  const [oldPods, newPods] = await Promise.all([
    rcCurrentPods(c.labels, oldId),
    rcCurrentPods(c.labels, newId),
  ]);
  const podHealth = await health.podHealth(newRc.rc.manifest.id);
  const oldCounts = await countReplicas(c.store, oldPods, oldRc.rc, podHealth);
  const sha = newRc.rc.manifest.sha();
  const gates = gated
    ? await gateReports(c.store, newPods.keys(), newRc.rc.manifest.id, sha, run.id)
    : undefined;
  const newCounts = await countReplicas(c.store, newPods, newRc.rc, podHealth, gates);
  const reverted = await revertedNodes(c.store, newPods.keys(), newRc.rc.manifest.id, sha);
  return {
    oldRc,
    newRc,
    oldPods,
    podHealth,
    counts: { old: oldCounts, new: newCounts },
    reverted,
    ...(gates ? { gates } : {}),
  };
}

/**
 * Done when the new RC wants and has the target; with a deadline, every new replica is healthy
 * too; with `surge`, the old RC has drained back to the total.
 */
function isComplete(ru: RollRecord, counts: RollCounts, total: number): boolean {
  const target = ru.desiredReplicas;
  // A metric gate, like a deadline, means the last replicas must pass it too.
  const healthyEnough =
    (ru.progressDeadlineMs === 0 && ru.metricGate === undefined) || counts.new.healthy >= target;
  const drained = ru.strategy !== 'surge' || counts.old.desired + counts.new.desired <= total;
  return counts.new.desired >= target && counts.new.current >= target && healthyEnough && drained;
}

/** Past the progress deadline, or a new replica reverted: fail, or with `autoRollback` roll back. */
async function giveUp(
  run: RollRun,
  ru: RollRecord,
  seen: RollSnapshot,
  progress: RollProgress,
  reason?: string,
): Promise<RollOutcome> {
  const { counts } = seen;
  const message =
    reason ??
    `no new replica became healthy for ${formatGoDuration(ru.progressDeadlineMs * 1e6)} (${counts.new.healthy}/${ru.desiredReplicas} healthy)`;
  if (!ru.autoRollback) {
    await progress.publish('failed', message, counts);
    return 'failed';
  }
  await rollBack(run, seen.oldRc, seen.newRc, progress.originalOld, message);
  await progress.publish('rolled_back', `${message}; rolled back to RC ${run.oldId}`, counts);
  return 'rolled_back';
}

/** The step the update's strategy allows for these counts. */
function nextStep(ru: RollRecord, counts: RollCounts, total: number): RollStepResult {
  const input = {
    oldHealthy: Math.min(counts.old.healthy, counts.old.desired),
    newHealthy: counts.new.healthy,
    oldDesired: counts.old.desired,
    newDesired: counts.new.desired,
    target: ru.desiredReplicas,
    minimum: ru.minimumReplicas,
  };
  return ru.strategy === 'surge'
    ? surgeStep({ ...input, maxSurge: ru.maxSurge, total })
    : capUnavailable(rollStep(input), ru.maxUnavailable);
}

/** Commits one step; losing a race to another writer of an RC only means the next pass retries. */
async function takeStep(
  run: RollRun,
  seen: RollSnapshot,
  step: RollStepResult,
  progress: RollProgress,
): Promise<void> {
  try {
    await transfer(run, seen.oldRc, seen.newRc, seen.oldPods, seen.podHealth, step);
    progress.lastStepAt = progress.now();
    run.c.log.info({ roll: run.id, ...step }, 'rolling update step');
    await progress.publish(
      'rolling',
      `moved ${step.remove} from old, ${step.add} to new`,
      seen.counts,
    );
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
    run.c.log.debug({ roll: run.id, err: error }, 'roll step lost a race; retrying');
  }
}
