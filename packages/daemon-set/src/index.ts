/**
 * `@p2/daemon-set` — daemon sets: one pod on every node a selector matches. Their store (`DsStore`),
 * the reconcile pass (add, remove, replace a manifest within a health budget), the worker that runs
 * it on every change, the farm that claims daemon sets through session locks, and the orphan sweep.
 *
 * @packageDocumentation
 */
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
} from './daemon-set.js';
export {
  type DsChanges,
  type DsUpdate,
  type SelectorTest,
  testSelector,
  updateDaemonSet,
} from './update.js';
