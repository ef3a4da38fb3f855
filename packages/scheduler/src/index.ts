/**
 * `@p2/scheduler` — where pods go: the `Scheduler` interface controllers ask, the built-in
 * `LabelScheduler` (eligible nodes by node-label selector), and `placeReplicas`, which fills nodes
 * by capacity and spreads them over a topology label.
 *
 * @packageDocumentation
 */
export { SchedulerError, SchedulerErrorCode } from './errors.js';
export {
  type CandidateNode,
  CapacityLabel,
  nodeCapacity,
  type Placement,
  type PlacementRequest,
  placeReplicas,
  podDemand,
  type Resources,
} from './placement.js';
export {
  type AllocationRequest,
  LabelScheduler,
  type LabelSchedulerOptions,
  type Scheduler,
} from './scheduler.js';
