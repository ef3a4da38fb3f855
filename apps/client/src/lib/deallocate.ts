/**
 * P2's `p2-rm --deallocate`: remove one pod that a replication controller placed and shrink the
 * controller by one, so it does not put the pod back. Under the RC's mutation lock (held by rolling
 * updates too) with a session named like P2's: disable the RC, delete the pod's intent and labels,
 * decrement `replicas_desired`, re-enable it if it was enabled.
 */
import { LabelStore, lockKeys, PodTree } from '@p2/keyspace';
import { acquireLock, type Store, startSession } from '@p2/kv';
import { RcStore } from '@p2/rc';

export interface DeallocateResult {
  rc: string;
  replicasDesired: number;
  removed: string[];
}

export async function deallocatePod(
  store: Store,
  request: { node: string; pod: string; rc: string; user: string },
): Promise<DeallocateResult> {
  const rcs = new RcStore(store);
  await rcs.get(request.rc); // P2_RC_NOT_FOUND before taking any lock when the controller is gone
  const session = await startSession(store, {
    name: `p2-rm:user:${request.user}:rcID:${request.rc}`,
    ttlMs: 15_000,
    lockDelayMs: 1,
    behavior: 'delete',
  });
  try {
    const lock = await acquireLock(store, lockKeys.replicationControllerUpdate(request.rc), {
      session,
      value: `p2-rm:user:${request.user}:rcID:${request.rc}`,
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
          `labels/pod/${request.node}/${request.pod}`,
        ],
      };
    } finally {
      await lock.release().catch(() => undefined);
    }
  } finally {
    await session.destroy().catch(() => undefined);
  }
}
