/**
 * cgroup v1 and v2 for pods: detect the hierarchy, create a group under a parent, set CPU and
 * memory limits with P2's semantics, add processes, read usage, remove.
 *
 * @example
 * ```ts
 * import { createCgroup, cgroupName, detectCgroups } from '@p2/cgroups';
 * const cgroup = await createCgroup(await detectCgroups(), { name: cgroupName({ node: 'h1', pod: 'hello', launchable: 'app' }) }, { cpus: 1, memory: '512M' });
 * await cgroup.addProcess(pid);
 * ```
 */
export {
  type AppliedLimits,
  Cgroup,
  type CgroupLocation,
  type CgroupsLogger,
  type CgroupUsage,
  cgroupName,
  createCgroup,
  openCgroup,
  type RemoveOptions,
} from './cgroup.js';
export { CgroupsError, type CgroupsErrorCode, CgroupsErrorCodes } from './errors.js';
export {
  type CgroupHierarchy,
  type CgroupHierarchyV1,
  type CgroupHierarchyV2,
  type Controller,
  detectCgroups,
  hierarchyFromMountinfo,
  P2_CONTROLLERS,
} from './hierarchy.js';
export { type CgroupLimits, CPU_PERIOD_US, parseMemory, resolveLimits } from './limits.js';
export { type LaunchableCgroup, listLaunchableCgroups } from './scan.js';
