/** The checks before a replication takes its lock (spec 03 §3, initialization steps 1 and 4). */
import { RcError, RcErrorCode, storeError } from '@p2/controller-kit';
import { LabelStore, PodTree, podLabelId } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { ReservedLabel } from '@p2/labels';

/** The pod id P2's preparer runs as on every node it manages. */
const PREPARER_POD = 'p2-preparer';

/**
 * Every node must run a preparer (`reality/<node>/p2-preparer`), and, unless `ignoreControllers`,
 * none may hold the pod under a replication controller (`replication_controller_id` pod label).
 *
 * @throws RcError `P2_RC_INVALID_REQUEST` naming the nodes, `P2_RC_STORE`.
 */
export async function checkNodes(
  store: Store,
  podId: string,
  nodes: readonly string[],
  ignoreControllers: boolean,
): Promise<void> {
  const reality = new PodTree(store, 'reality');
  const labels = new LabelStore(store);
  const missing: string[] = [];
  const managed: string[] = [];
  // At most 3 nodes at a time (P2's --concurrent-reality-checks default).
  for (let i = 0; i < nodes.length; i += 3) {
    await Promise.all(
      nodes.slice(i, i + 3).map(async (node) => {
        try {
          if (!(await reality.getPod(node, PREPARER_POD)).value) missing.push(node);
          if (ignoreControllers) return;
          const { labels: set } = await labels.get('pod', podLabelId(node, podId));
          if (set[ReservedLabel.REPLICATION_CONTROLLER_ID]) managed.push(node);
        } catch (cause) {
          throw storeError(`checking node ${node}`, cause);
        }
      }),
    );
  }
  if (missing.length > 0) {
    throw new RcError(
      RcErrorCode.INVALID_REQUEST,
      `no preparer on ${missing.sort().join(', ')} (reality/<node>/${PREPARER_POD} missing)`,
      { details: { nodes: missing }, hint: 'check the node names, or start their preparers' },
    );
  }
  if (managed.length > 0) {
    throw new RcError(
      RcErrorCode.INVALID_REQUEST,
      `cannot replicate to nodes already managed by a controller: ${managed.sort().join(', ')}`,
      { details: { nodes: managed }, hint: 'deploy through the RC, or pass ignore-controllers' },
    );
  }
}
