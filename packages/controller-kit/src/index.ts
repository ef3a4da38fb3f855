/**
 * `@p2/controller-kit` — what P2's controllers (`@p2/rc`, `@p2/roll`, `@p2/daemon-set`) share: the
 * context they are given, the lock farm that claims their records, the loop of a worker that
 * reconciles one record, where they read health, the transaction helpers they write intent with,
 * and their one error family (`RcError`, `P2_RC_*`).
 *
 * @packageDocumentation
 */
export {
  type Alert,
  type ControllerContext,
  type IntentRecordRef,
  type IntentSigner,
  type ResolvedContext,
  resolveContext,
} from './context.js';
export { RcError, RcErrorCode } from './errors.js';
export {
  type HealthSource,
  healthState,
  healthyAfter,
  type NodeHealth,
  StoreHealthSource,
} from './health.js';
export { type FarmChild, type FarmKind, type FarmOptions, LockFarm } from './lock-farm.js';
export {
  commitNodeChanges,
  type NodeChange,
  readIntents,
  readPerNode,
  sameManifest,
} from './node-changes.js';
export { RecordWorker, type RecordWorkerOptions } from './record-worker.js';
export {
  byName,
  changedWhileSigning,
  commit,
  listRecords,
  sleep,
  storeError,
} from './util.js';
