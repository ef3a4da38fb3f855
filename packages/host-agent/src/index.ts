/**
 * `@p2/host-agent`: what runs on every host to make it match the store — one deploy function that
 * owns P2's step order ({@link deployPod}) and its dry run ({@link planDeploy}), the reconcile loop
 * over `intent/<node>/` with one worker per pod ({@link Preparer}), its metrics and status server,
 * and setting a host up from nothing ({@link bootstrapHost}). `p2-preparer`, `p2-bootstrap` and
 * `p2 launch` wire it together.
 *
 * @packageDocumentation
 */
export {
  type BootstrapOptions,
  type BootstrapReport,
  bootstrapHost,
  PREPARER_NODE_ENV,
  PREPARER_NODE_FLAGS,
} from './bootstrap.js';
export {
  type ControlPodOptions,
  controlPod,
  type PodAction,
  type PodControl,
  type ShutdownOptions,
  shutdownPods,
} from './control.js';
export {
  type Authorize,
  type DeployAgent,
  type DeployDecision,
  type DeployOptions,
  type DeployResult,
  type DeployStep,
  deployPod,
  deploySteps,
  type HealthTracker,
  type Launched,
  type LifecycleHooks,
  type RealityRecorder,
} from './deploy.js';
export { HostAgentError, HostAgentErrorCode } from './errors.js';
export { type ExecInPodOptions, type ExecOutcome, execInPod } from './exec.js';
export {
  type HealthTrackingOptions,
  type HealthWriterSettings,
  startHealthTracking,
} from './health.js';
export {
  type HookPodOptions,
  type HookPodReport,
  installedPreparerConfigText,
  installHookPod,
  installHookPodLocally,
  type LocalHookPodOptions,
  type RunPodHooksOptions,
  runPodHooks,
} from './hook-pod.js';
export { type DirectoryHooksOptions, directoryHooks } from './hooks.js';
export { IdleGc, type IdleGcOptions } from './idle-gc.js';
export { type LaunchPodOptions, type LocalLaunch, launchPod } from './launch.js';
export { PreparerMetrics } from './metrics.js';
export {
  diffJson,
  type FieldChange,
  type LaunchablePlan,
  type PlanInput,
  type PodPlan,
  planDeploy,
  type RegistryResolution,
} from './plan.js';
export {
  assertRequireFile,
  type PodState,
  Preparer,
  type PreparerOptions,
} from './preparer.js';
export { StoreReality } from './reality.js';
export { type AutoRevertSettings, REVERT_AFTER_LABEL } from './revert.js';
export { type StatusServer, type StatusServerOptions, startStatusServer } from './status-server.js';
export { PREPARER_STORE_LIMITS } from './store-limits.js';
