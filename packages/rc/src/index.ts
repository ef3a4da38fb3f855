/**
 * `@p2/rc` — replication controllers: their store (`RcStore`), the reconcile pass that makes a
 * controller's replicas match its count (P2's `meetDesires`), the worker that runs it on every change,
 * the farm that claims controllers through session locks, and removing one pod with P2's `p2-rm`
 * rules (`unschedulePod`, `deallocatePod`). Records and keys are
 * `@p2/keyspace`'s; placement is `@p2/scheduler`'s; the shared context is `@p2/controller-kit`'s.
 *
 * @packageDocumentation
 */
export {
  RcWorker,
  type RcWorkerOptions,
  type ReconcileOptions,
  type ReconcileResult,
  rcCurrentPods,
  rcNodeOps,
  rcPodLabels,
  reconcileRc,
} from './controller.js';
export { type DeallocateRequest, type DeallocateResult, deallocatePod } from './deallocate.js';
export { RcFarm, type RcFarmOptions } from './farm.js';
export { type CreateRcRequest, RcStore } from './rcstore.js';
export { type UnscheduleOutcome, type UnscheduleRequest, unschedulePod } from './unschedule.js';
