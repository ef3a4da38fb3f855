/**
 * Refusing a rolling update that cannot keep its promise, before it is written: `surge` where the
 * new replicas would replace the old ones in place, a minimum the old RC cannot give.
 */
import { StoreHealthSource } from '@p2/controller-kit';
import { intentKey, LabelStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { rcCurrentPods } from '@p2/rc';
import { countReplicas } from './count.js';
import type { CreateRollRequest } from './roll-store.js';
import { readRc } from './roll-store.js';

/**
 * Why the update `request` describes cannot keep its promise (empty when it can):
 * - `surge` and a node the new RC's selector matches already runs the pod id: the new replica would
 *   be written over the running one on that node (same pod id, same node), leaving nothing serving
 *   while it restarts;
 * - `minimumReplicas` above the old RC's replicas desired, or above its replicas healthy now.
 *
 * @throws RcError `P2_RC_NOT_FOUND` when an RC is missing, `P2_RC_STORE` when the store fails
 * @example (await rollRefusals(store, request)).join('; ')
 */
export async function rollRefusals(
  store: Store,
  request: Pick<CreateRollRequest, 'oldRc' | 'newRc' | 'minimumReplicas' | 'strategy'>,
): Promise<string[]> {
  const labels = new LabelStore(store);
  const [{ rc: oldRc }, { rc: newRc }] = await Promise.all([
    readRc(store, request.oldRc),
    readRc(store, request.newRc),
  ]);
  const reasons: string[] = [];
  const podId = newRc.manifest.id;
  if (request.strategy === 'surge') {
    const nodes = (await labels.select('node', newRc.nodeSelector)).map((r) => r.id).sort();
    const running: string[] = [];
    for (const node of nodes)
      if ((await store.get(intentKey(node, podId))).value) running.push(node);
    if (running.length > 0)
      reasons.push(
        `--strategy surge would replace ${podId} in place on ${running.join(', ')} (the new RC's selector matches ${running.length === 1 ? 'a node that already runs' : 'nodes that already run'} it), leaving nothing serving there while it restarts: use --strategy unavailable, or give the new RC a selector over nodes without ${podId}`,
      );
  }
  if (request.minimumReplicas > oldRc.replicasDesired)
    reasons.push(
      `minimum ${request.minimumReplicas} is more than the old RC's ${oldRc.replicasDesired} desired replicas`,
    );
  else if (request.minimumReplicas > 0) {
    const health = await new StoreHealthSource(store).podHealth(podId);
    const counts = await countReplicas(
      store,
      await rcCurrentPods(labels, request.oldRc),
      oldRc,
      health,
    );
    if (request.minimumReplicas > counts.healthy)
      reasons.push(
        `minimum ${request.minimumReplicas} is more than the old RC's ${counts.healthy} healthy replicas now: the update could never take a step`,
      );
  }
  return reasons;
}
