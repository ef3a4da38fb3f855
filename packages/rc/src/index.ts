/**
 * `@p2/rc` — controllers that write intent: replication controllers (P2's record format, farms
 * that claim them through session locks, the reconcile pass), rolling updates gated on health,
 * daemon sets, and a scheduler that places replicas by selector, topology and capacity. Their
 * records, keys and codecs are `@p2/keyspace`'s.
 *
 * @packageDocumentation
 */
export {
  type Alert,
  type ControllerContext,
  RcWorker,
  type RcWorkerOptions,
  type ReconcileOptions,
  type ReconcileResult,
  rcCurrentPods,
  rcPodLabels,
  reconcileRc,
} from './controller.js';
export {
  type CreateDsRequest,
  DsFarm,
  type DsFarmOptions,
  type DsReconcileOptions,
  type DsReconcileResult,
  DsStore,
  DsWorker,
  type DsWorkerOptions,
  readDsStatus,
  reconcileDaemonSet,
  sweepDaemonSetOrphans,
} from './daemonset.js';
export { RcError, RcErrorCode } from './errors.js';
export type { FarmOptions } from './farm.js';
export { RcFarm, type RcFarmOptions } from './farm.js';
export { type HealthSource, StoreHealthSource } from './health.js';
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
export { type CreateRcRequest, RcStore } from './rcstore.js';
export {
  type CreateRollRequest,
  countReplicas,
  RollFarm,
  type RollFarmOptions,
  type RollOutcome,
  RollStore,
  type RunRollOptions,
  runRollingUpdate,
} from './roll.js';
export {
  type AllocationRequest,
  LabelScheduler,
  type LabelSchedulerOptions,
  type Scheduler,
} from './scheduler.js';
export {
  type RollStepInput,
  type RollStepResult,
  rollStep,
  type SurgeStepInput,
  surgeStep,
} from './step.js';
