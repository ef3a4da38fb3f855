/**
 * OCI bundles for pods: the allowlist a bundle's `config.json` must pass, the runtime spec p2
 * hands runc (the pod's user, cgroup, env and config), and a small `runc` wrapper.
 *
 * @example
 * ```ts
 * import { buildRuntimeSpec, checkBundleSpec, runArgv } from '@p2/runc';
 * const checked = checkBundleSpec(config, { uid: 4001, gid: 4001, podHome: '/data/pods/web', bundleDir });
 * const spec = buildRuntimeSpec(checked, { uid: 4001, gid: 4001, env: {}, cgroupsPath: '/web__app/container' });
 * runArgv({}, runtimeDir, 'web__app'); // ['runc', '--root', '/run/p2/runc', 'run', '--bundle', runtimeDir, 'web__app']
 * ```
 */
export { RuncError, type RuncErrorCode, RuncErrorCodes } from './errors.js';
export {
  type BindMount,
  BUNDLE_ALLOWANCES,
  type BundleAllowance,
  type BundleContext,
  type BundleExtras,
  type CheckedBundle,
  type ContainerProcess,
  checkBundleSpec,
  DEFAULT_CAPABILITIES,
  hostHardLimits,
} from './policy.js';
export {
  assertContainerId,
  type ContainerState,
  containerState,
  DEFAULT_RUNC_ROOT,
  deleteContainer,
  killContainer,
  listContainers,
  type RuncOptions,
  runArgv,
  runc,
} from './runc.js';
export {
  buildRuntimeSpec,
  type ContainerSource,
  type RuntimeContext,
  type RuntimeSpec,
} from './runtime.js';
