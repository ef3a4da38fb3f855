import { LabelStore, labelKey, lockKeys, PodTree, podLabelId } from '@p2/keyspace';
import { acquireLock, type Store, startSession } from '@p2/kv';
import { RcStore } from './rcstore.js';

/** What {@link deallocatePod} asks for. */
export interface DeallocateRequest {
  /** Node the pod is scheduled on. */
  node: string;
  /** Pod id (a legacy pod: `intent/<node>/<pod>`). */
  pod: string;
  /** The replication controller that placed it (its `replication_controller_id` pod label). */
  rc: string;
  /** Who asks; named in the session and lock value as P2 did (`p2-rm:user:<user>:rcID:<rc>`). */
  user: string;
}

/** What {@link deallocatePod} did. */
export interface DeallocateResult {
  rc: string;
  /** The controller's replica count afterwards (one less). */
  replicasDesired: number;
  /** Keys deleted: the pod's intent and its labels. */
  removed: string[];
}

/**
 * P2's `p2-rm --deallocate`: removes one pod that a replication controller placed and shrinks the
 * controller by one, so it does not put the pod back. Runs under the RC's mutation lock (rolling
 * updates hold it too) with a session named like P2's: disable the RC, delete the pod's intent and
 * labels, decrement `replicas_desired`, re-enable the RC if it was enabled.
 *
 * @throws `RcError` `P2_RC_NOT_FOUND` (before any lock is taken) when the controller is gone;
 *   `KvError` `P2_KV_LOCK_HELD` while another client (a rolling update) holds the lock
 *
 * @example
 * ```ts
 * const { replicasDesired } = await deallocatePod(store, { node: 'n1', pod: 'web', rc: rcId, user: 'ops' });
 * ```
 */
export async function deallocatePod(
  store: Store,
  request: DeallocateRequest,
): Promise<DeallocateResult> {
  const rcs = new RcStore(store);
  await rcs.get(request.rc); // P2_RC_NOT_FOUND before taking any lock when the controller is gone
  const owner = `p2-rm:user:${request.user}:rcID:${request.rc}`;
  const session = await startSession(store, {
    name: owner,
    ttlMs: 15_000,
    lockDelayMs: 1,
    behavior: 'delete',
  });
  try {
    const lock = await acquireLock(store, lockKeys.replicationControllerUpdate(request.rc), {
      session,
      value: owner,
    });
    try {
      const { rc: original } = await rcs.get(request.rc);
      await rcs.disable(request.rc);
      const intent = new PodTree(store, 'intent');
      await intent.deletePod(request.node, request.pod);
      await new LabelStore(store).removeAll('pod', `${request.node}/${request.pod}`);
      let after = await rcs.addDesiredReplicas(request.rc, -1);
      if (!original.disabled) after = await rcs.enable(request.rc);
      return {
        rc: request.rc,
        replicasDesired: after.replicasDesired,
        removed: [
          intent.key(request.node, request.pod),
          labelKey('pod', podLabelId(request.node, request.pod)),
        ],
      };
    } finally {
      await lock.release().catch(() => undefined);
    }
  } finally {
    await session.destroy().catch(() => undefined);
  }
}
