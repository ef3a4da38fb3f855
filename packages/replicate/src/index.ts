/**
 * `@p2/replicate` — P2's replicator (`p2-replicate`): one manifest written into the intent of a list
 * of nodes, least healthy first, moving on only as updated nodes report healthy and keeping a
 * minimum of healthy nodes, under the pod's replication lock (`lock/replication/<pod-id>`).
 *
 * @packageDocumentation
 */
export { lockMessage } from './lock.js';
export {
  type NodeEvent,
  type ReplicateOptions,
  type ReplicationProgress,
  type ReplicationResult,
  replicate,
} from './replicate.js';
