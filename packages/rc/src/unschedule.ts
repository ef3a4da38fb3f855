import { hostname } from 'node:os';
import {
  intentKey,
  LabelStore,
  labelKey,
  PodTree,
  podLabelId,
  UuidPodStore,
  uuidPodKey,
} from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { isUuidShaped } from '@p2/manifest';
import { deallocatePod } from './deallocate.js';
import { RcStore } from './rcstore.js';

/** What {@link unschedulePod} asks for. */
export interface UnscheduleRequest {
  /** A legacy pod's id, or a uuid pod's unique key (any case). */
  pod: string;
  /**
   * The legacy pod's node; for a uuid pod, the node it must be on (when given).
   * @default os.hostname() for a legacy pod (as P2's tools)
   */
  node?: string;
  /**
   * A legacy pod a replication controller placed: also lower the controller's replica count by one
   * (P2's `p2-rm --deallocate`, see {@link deallocatePod}).
   */
  deallocate?: boolean;
  /** Remove a pod a replication controller placed without changing the controller (it may put it back). */
  force?: boolean;
  /**
   * Remove a pod whose `replication_controller_id` names a controller that no longer exists
   * (P2's `p2-rm --remove-orphan`); without it such a pod is refused as an `orphan`.
   */
  removeOrphan?: boolean;
  /** Who asks (named in the RC lock with `deallocate`). */
  user: string;
}

/** What {@link unschedulePod} did, or why it did nothing. */
export type UnscheduleOutcome =
  | {
      outcome: 'removed';
      /** The pod id (a uuid pod's is its unique key). */
      podId: string;
      /** The uuid pod's unique key; empty for a legacy pod. */
      uniqueKey: string;
      node: string;
      /** Keys deleted. */
      removed: string[];
      /** With `deallocate`, for a pod a controller placed: the controller and its new replica count. */
      rc?: { id: string; replicasDesired: number };
    }
  /** Nothing to remove: no `pods/<uuid>` (a uuid pod: `uniqueKey` set), or no `intent/<node>/<pod>`. */
  | { outcome: 'absent'; podId: string; uniqueKey: string; node?: string }
  /** The uuid pod is scheduled on another node than the one asked for. */
  | { outcome: 'other-node'; podId: string; node: string }
  /** A replication controller placed the pod and would schedule it again: refused without `force`. */
  | { outcome: 'owned'; podId: string; node: string; rc: string }
  /** The pod names a replication controller that no longer exists: refused without `removeOrphan` or `force`. */
  | { outcome: 'orphan'; podId: string; node: string; rc: string };

/**
 * P2's `p2-rm`: removes a legacy pod's intent and labels, or a uuid pod (its `pods/<uuid>` record
 * and intent index). A legacy pod a replication controller placed (its `replication_controller_id`
 * label) is refused unless `force` removes it anyway or `deallocate` also shrinks the controller;
 * one whose controller is gone is refused unless `removeOrphan` (or `force`) removes it.
 *
 * @throws what {@link deallocatePod} throws, and `KvError`s of the store
 * @example
 * ```ts
 * const done = await unschedulePod(store, { pod: 'web', node: 'n1', user: 'ops' });
 * if (done.outcome === 'owned') console.log(`placed by ${done.rc}`);
 * ```
 */
export async function unschedulePod(
  store: Store,
  request: UnscheduleRequest,
): Promise<UnscheduleOutcome> {
  const { pod } = request;
  if (isUuidShaped(pod)) {
    const uuid = pod.toLowerCase();
    const uuids = new UuidPodStore(store);
    const found = await uuids.readPod(uuid);
    if (!found) return { outcome: 'absent', podId: uuid, uniqueKey: uuid };
    if (request.node && request.node !== found.node)
      return { outcome: 'other-node', podId: uuid, node: found.node };
    await uuids.unschedule(uuid);
    return {
      outcome: 'removed',
      podId: uuid,
      uniqueKey: uuid,
      node: found.node,
      removed: [uuidPodKey(uuid), intentKey(found.node, uuid)],
    };
  }
  const node = request.node ?? hostname();
  const intent = new PodTree(store, 'intent');
  if (!(await intent.getPod(node, pod)).value)
    return { outcome: 'absent', podId: pod, uniqueKey: '', node };
  const labels = new LabelStore(store);
  const podLabels = await labels.get('pod', podLabelId(node, pod));
  const rc = podLabels.labels.replication_controller_id;
  const orphan = rc !== undefined && !(await new RcStore(store).exists(rc));
  if (orphan && !request.removeOrphan && !request.force)
    return { outcome: 'orphan', podId: pod, node, rc };
  if (rc && !orphan && request.deallocate) {
    const done = await deallocatePod(store, { node, pod, rc, user: request.user });
    const replicas = { id: rc, replicasDesired: done.replicasDesired };
    return {
      outcome: 'removed',
      podId: pod,
      uniqueKey: '',
      node,
      removed: done.removed,
      rc: replicas,
    };
  }
  if (rc && !orphan && !request.force) return { outcome: 'owned', podId: pod, node, rc };
  await intent.deletePod(node, pod);
  const removed = [intent.key(node, pod)];
  if (podLabels.index !== 0) {
    await labels.removeAll('pod', podLabelId(node, pod));
    removed.push(labelKey('pod', podLabelId(node, pod)));
  }
  return { outcome: 'removed', podId: pod, uniqueKey: '', node, removed };
}
