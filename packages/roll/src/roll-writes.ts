/**
 * The transactions of one run of a rolling update. Each starts with the run's proof that it still
 * holds both RCs' mutation locks, so a run that lost its session cannot write.
 */
import { hostname } from 'node:os';
import {
  byName,
  commit,
  healthState,
  type NodeHealth,
  RcError,
  RcErrorCode,
  type ResolvedContext,
  storeError,
} from '@p2/controller-kit';
import { compareHealth } from '@p2/health';
import {
  auditLogOp,
  encodeRc,
  type IndexedLabels,
  labelKey,
  lockKeys,
  type RcRecord,
  type RollRecord,
  rcKey,
  rcStatusKey,
  rollKey,
} from '@p2/keyspace';
import { MAX_TXN_OPS, type ManagedSession, startSession, type TxnOp } from '@p2/kv';
import { ReservedLabel } from '@p2/labels';
import { rcCurrentPods, rcNodeOps } from '@p2/rc';
import { readRc } from './roll-store.js';
import type { RollStepResult } from './step.js';

/** An RC as read, with the index its next write is compared against. */
export interface IndexedRc {
  readonly rc: RcRecord;
  readonly index: number;
}

/** One run of a rolling update: the update, its two RCs, and the proof every write carries. */
export interface RollRun {
  readonly c: ResolvedContext;
  readonly id: string;
  readonly oldId: string;
  readonly newId: string;
  /** `check-session` ops on both RCs' mutation locks, held by the run's session. */
  readonly proof: readonly TxnOp[];
  readonly session: ManagedSession;
}

/** Opens the run's session (named `ru-farm:<host>:<id>`, as P2's) and builds its lock proof. */
export async function startRun(
  c: ResolvedContext,
  roll: RollRecord,
  id: string,
  ttlMs: number,
): Promise<RollRun> {
  let session: ManagedSession;
  try {
    session = await startSession(c.store, {
      name: `ru-farm:${hostname()}:${id}`,
      ttlMs,
      lockDelayMs: 0,
      behavior: 'delete',
    });
  } catch (cause) {
    throw storeError(`creating a session for rolling update ${id}`, cause);
  }
  const { oldRc: oldId, newRc: newId } = roll;
  const proof: TxnOp[] = [oldId, newId].map((rc) => ({
    verb: 'check-session',
    key: lockKeys.replicationControllerUpdate(rc),
    session: session.id,
  }));
  return { c, id, oldId, newId, proof, session };
}

/** Takes both RCs' mutation locks in one transaction; false when another actor holds one. */
export async function lockBothRcs(run: RollRun): Promise<boolean> {
  const locked = await run.c.store.txn(
    [run.oldId, run.newId].map((rc) => ({
      verb: 'lock',
      key: lockKeys.replicationControllerUpdate(rc),
      value: `ru ${run.id}`,
      session: run.session.id,
    })),
  );
  return locked.committed;
}

/** Releases both locks and destroys the session (best effort: the locks go with the session). */
export async function endRun(run: RollRun): Promise<void> {
  await commit(
    run.c.store,
    [run.oldId, run.newId].flatMap((rc): TxnOp[] => [
      {
        verb: 'check-session',
        key: lockKeys.replicationControllerUpdate(rc),
        session: run.session.id,
      },
      { verb: 'delete', key: lockKeys.replicationControllerUpdate(rc) },
    ]),
    'releasing rolling update locks',
  ).catch(() => undefined);
  await run.session.destroy().catch(() => undefined);
}

/**
 * Disables the old RC (this update removes its pods) and enables the new one; refuses to enable a
 * disabled new RC whose labelled pods differ from its count. Returns both RCs as they were before.
 */
export async function enableNewRc(run: RollRun): Promise<{ old: IndexedRc; new: IndexedRc }> {
  const { c, oldId, newId } = run;
  const oldStart = await readRc(c.store, oldId);
  const newStart = await readRc(c.store, newId);
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
    c.store,
    [
      ...run.proof,
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
    `rolling update ${run.id}: enabling the new RC`,
  );
  return { old: oldStart, new: newStart };
}

/** Unschedule ops for the old RC's surplus replicas above `keep`, least healthy first. */
function victims(
  run: RollRun,
  oldRc: RcRecord,
  oldPods: Map<string, IndexedLabels>,
  podHealth: Map<string, NodeHealth>,
  keep: number,
  maxNodes = Number.POSITIVE_INFINITY,
): TxnOp[] {
  const surplus = Math.min(oldPods.size - keep, maxNodes);
  if (surplus <= 0) return [];
  const ops = rcNodeOps(run.c, oldRc);
  const order = [...oldPods.keys()].sort((a, b) => {
    const h = compareHealth(healthState(podHealth.get(a)), healthState(podHealth.get(b)));
    return h !== 0 ? h : byName(b, a);
  });
  return order.slice(0, surplus).flatMap((node) => ops.unschedule(node, oldPods.get(node)!));
}

/** One step: moves desired counts from the old RC to the new one and removes old surplus pods. */
export async function transfer(
  run: RollRun,
  oldRc: IndexedRc,
  newRc: IndexedRc,
  oldPods: Map<string, IndexedLabels>,
  podHealth: Map<string, NodeHealth>,
  step: RollStepResult,
): Promise<void> {
  const oldDesired = Math.max(0, oldRc.rc.replicasDesired - step.remove);
  const ops: TxnOp[] = [
    ...run.proof,
    {
      verb: 'cas',
      key: rcKey(run.newId),
      value: encodeRc({ ...newRc.rc, replicasDesired: newRc.rc.replicasDesired + step.add }),
      index: newRc.index,
    },
    {
      verb: 'cas',
      key: rcKey(run.oldId),
      value: encodeRc({ ...oldRc.rc, replicasDesired: oldDesired }),
      index: oldRc.index,
    },
  ];
  // Old pods go in the same transaction, so the new RC never sees the count before the room.
  // At most 2 ops per node; what does not fit is removed on the next pass.
  const removals = victims(
    run,
    oldRc.rc,
    oldPods,
    podHealth,
    oldDesired,
    Math.floor((MAX_TXN_OPS - ops.length) / 2),
  );
  await commit(run.c.store, [...ops, ...removals], `rolling update ${run.id}: step`);
}

/**
 * Ends a successful update: removes what is left of the old RC (unless `leaveOld`, or it still
 * wants replicas, which raises an alert), then deletes the update and its labels with a completion
 * audit record.
 */
export async function finish(
  run: RollRun,
  ru: RollRecord,
  oldRc: IndexedRc,
  newRc: IndexedRc,
  oldPods: Map<string, IndexedLabels>,
  podHealth: Map<string, NodeHealth>,
): Promise<void> {
  const { c, id, oldId, proof } = run;
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
          c.store,
          [...proof, ...victims(run, oldRc.rc, left, podHealth, 0, perTxn)],
          `rolling update ${id}: removing old replicas`,
        );
        left = await rcCurrentPods(c.labels, oldId);
      }
      const fresh = await readRc(c.store, oldId);
      ops.push(
        { verb: 'delete-cas', key: rcKey(oldId), index: fresh.index },
        { verb: 'delete', key: rcStatusKey(oldId) },
        { verb: 'delete', key: labelKey('replication_controller', oldId) },
      );
    }
  }
  ops.push(
    { verb: 'delete', key: rollKey(id) },
    { verb: 'delete', key: labelKey('rolls', id) },
    completionAudit(run, newRc.rc, true, false),
  );
  await commit(c.store, ops, `rolling update ${id}: finishing`);
}

/**
 * Rolls back in one transaction: the old RC re-enabled at its original count, the new RC to 0, the
 * update and its labels deleted, a completion audit record saying it did not succeed.
 */
export async function rollBack(
  run: RollRun,
  oldRc: IndexedRc,
  newRc: IndexedRc,
  originalOld: number,
  reason: string,
): Promise<void> {
  const { c, id } = run;
  c.log.warn({ roll: id, reason }, 'rolling update failed; rolling back');
  await commit(
    c.store,
    [
      ...run.proof,
      {
        verb: 'cas',
        key: rcKey(run.oldId),
        value: encodeRc({ ...oldRc.rc, disabled: false, replicasDesired: originalOld }),
        index: oldRc.index,
      },
      {
        verb: 'cas',
        key: rcKey(run.newId),
        value: encodeRc({ ...newRc.rc, disabled: false, replicasDesired: 0 }),
        index: newRc.index,
      },
      { verb: 'delete', key: rollKey(id) },
      { verb: 'delete', key: labelKey('rolls', id) },
      completionAudit(run, newRc.rc, false, false),
    ],
    `rolling update ${id}: rolling back`,
  );
}

function completionAudit(
  run: RollRun,
  newRc: RcRecord,
  succeeded: boolean,
  canceled: boolean,
): TxnOp {
  return auditLogOp('ROLLING_UPDATE_COMPLETION', {
    pod_id: newRc.manifest.id,
    availability_zone: newRc.podLabels[ReservedLabel.AVAILABILITY_ZONE] ?? '',
    cluster_name: newRc.podLabels[ReservedLabel.CLUSTER_NAME] ?? '',
    rolling_update_id: run.id,
    succeeded,
    canceled,
  }).op;
}
