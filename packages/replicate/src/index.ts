/**
 * `@p2/replicate` — P2's replicator (`p2-replicate`): one manifest written into the intent of a list
 * of nodes, least healthy first, moving on only as updated nodes report healthy and keeping a
 * minimum of healthy nodes, under the pod's replication lock (`lock/replication/<pod-id>`); and
 * `prestage`, the same manifest downloaded ahead on a list of nodes (issue 21).
 *
 * @packageDocumentation
 */
export { lockMessage } from './lock.js';
export { type NodeStage, type PrestageOptions, type PrestageResult, prestage } from './prestage.js';
export {
  type NodeEvent,
  type ReplicateOptions,
  type ReplicationProgress,
  type ReplicationResult,
  replicate,
} from './replicate.js';
