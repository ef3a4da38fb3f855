/**
 * `@p2/hooks`: P2's hook events and environment; a typed API for hook authors (`readHookEnv`,
 * `defineHook`); discovery and execution of hooks for the preparer, with timeouts that kill and an
 * audit record per run.
 */
export { type DefineHookOptions, defineHook, type HookHandlers, shouldHandle } from './author.js';
export { type DiscoveredHook, discoverHooks } from './discover.js';
export {
  type HookEnv,
  HookEnvVar,
  type HookVariables,
  hookEnvironment,
  readHookEnv,
  readHookVariables,
} from './env.js';
export { HooksError, HooksErrorCode } from './errors.js';
export { type HookEvent, HookEvents, isHookEvent, parseHookEvent } from './events.js';
export {
  type HookExecutor,
  type HookExecutorsReport,
  hookExecutorName,
  installHookExecutors,
} from './install.js';
export { type ProcessOutcome, type RunProcessOptions, runProcess } from './process.js';
export {
  type HookAuditRecord,
  type HookPod,
  type HookRunSummary,
  hookPodPaths,
  type RunHooksOptions,
  runHooks,
} from './run.js';
