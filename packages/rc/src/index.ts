/**
 * `@p2/rc` — controllers that write intent: replication controllers (P2's record format, farms
 * that claim them through session locks, the reconcile pass), rolling updates gated on health,
 * daemon sets, and a scheduler that places replicas by selector, topology and capacity.
 *
 * @packageDocumentation
 */
export {
  type Alert,
  type ControllerContext,
  intentKey,
  RcWorker,
  type RcWorkerOptions,
  type ReconcileOptions,
  type ReconcileResult,
  rcCurrentPods,
  rcMutationLockKey,
  rcOwnershipLockKey,
  rcPodLabels,
  realityKey,
  reconcileRc,
} from './controller.js';
export {
  CONTROLLER_FARMS,
  type ControllerFarmName,
  type ControllerFarmsOptions,
  checkStoreAccess,
  type RunningControllerFarms,
  startControllerFarms,
} from './controllers.js';
export {
  type CreateDsRequest,
  DsFarm,
  type DsFarmOptions,
  type DsReconcileOptions,
  type DsReconcileResult,
  type DsStatus,
  DsStore,
  DsWorker,
  type DsWorkerOptions,
  dsKey,
  dsLockKey,
  dsStatusKey,
  readDsStatus,
  reconcileDaemonSet,
  sweepDaemonSetOrphans,
} from './daemonset.js';
export { RcError, RcErrorCode } from './errors.js';
export type { FarmOptions } from './farm.js';
export { RcFarm, type RcFarmOptions } from './farm.js';
export {
  compareHealth,
  decodeHealthStatus,
  encodeHealthRecord,
  HEALTH_PREFIX,
  HEALTH_STATES,
  type HealthSource,
  type HealthState,
  healthStateOf,
  StoreHealthSource,
} from './health.js';
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
export { type CreateRcRequest, RcStore, rcKey } from './rcstore.js';
export {
  type AllocationStrategy,
  AUDIT_PREFIX,
  type AuditEventType,
  type AuditRecord,
  DS_PREFIX,
  type DsRecord,
  decodeAudit,
  decodeDs,
  decodeRc,
  decodeRoll,
  encodeAudit,
  encodeDs,
  encodeRc,
  encodeRoll,
  RC_PREFIX,
  type RcRecord,
  ROLL_DEFAULTS,
  ROLL_PREFIX,
  type RollRecord,
  type RollStrategy,
} from './records.js';
export {
  type CreateRollRequest,
  countReplicas,
  RollFarm,
  type RollFarmOptions,
  type RollOutcome,
  type RollState,
  type RollStatus,
  RollStore,
  type RunRollOptions,
  rollKey,
  rollStatusKey,
  runRollingUpdate,
} from './roll.js';
export {
  type AllocationRequest,
  LabelScheduler,
  type LabelSchedulerOptions,
  type Scheduler,
} from './scheduler.js';
export {
  type RcNodeCounts,
  type RollStepInput,
  type RollStepResult,
  rollStep,
  type SurgeStepInput,
  surgeStep,
} from './step.js';
