/**
 * `@p2/pods`: a pod's whole life on one host — user and home, install (artifacts, verification,
 * config and env), launch (runit services as the pod's user in its cgroup, `bin/enable`), halt
 * (`bin/disable`, stop), uninstall — on P2's on-disk layout.
 *
 * @packageDocumentation
 */

export type { ContainerOptions } from './container.js';
export { type Ownership, writeEnvDir } from './envdir.js';
export { PodError, PodErrorCode } from './errors.js';
export type { ExecOptions, ExecPlan } from './exec.js';
export { type PodService, podServiceDirs } from './inventory.js';
export {
  assertSafeLaunchableId,
  assertSafePodId,
  HOOK_PODS_DIR,
  isUuid,
  PodLayout,
} from './layout.js';
export { type HookPodHost, PodHost } from './pod-host.js';
export {
  discoverLaunchable,
  isRegistryLaunchable,
  type RegistrySettings,
  registryFor,
} from './registry.js';
export type { RunAsPolicy } from './run-as.js';
export { type RunScriptOptions, runScript, type ScriptResult } from './scripts.js';
export type {
  DigestSignatureVerifier,
  EntryPointScript,
  InstalledPod,
  InstallOptions,
  InstallReport,
  LaunchableInstallReport,
  LaunchOptions,
  LaunchReport,
  PodHostOptions,
  PodLogger,
  PodRef,
  ServiceHelpers,
  ServiceState,
  StageReport,
} from './types.js';
