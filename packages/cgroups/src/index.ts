/**
 * cgroup v1 and v2 for pods: detect the hierarchy, name a launchable's cgroup as P2 did (flat, or
 * nested with `nested_cgroups`), create a group under a parent, set CPU and memory limits with
 * P2's semantics, add processes, read usage, remove.
 *
 * @example
 * ```ts
 * import { createCgroup, detectCgroups, launchableCgroupLocation } from '@p2/cgroups';
 * const location = launchableCgroupLocation({}, { node: 'h1', pod: 'hello', launchable: 'app' }); // hello__app
 * const cgroup = await createCgroup(await detectCgroups(), location, { cpus: 1, memory: '512M' });
 * await cgroup.addProcess(pid);
 * ```
 */
export {
  type AppliedLimits,
  Cgroup,
  type CgroupLocation,
  type CgroupsLogger,
  type CgroupUsage,
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
export {
  type CgroupNaming,
  type LaunchableCgroupIds,
  launchableCgroupCandidates,
  launchableCgroupLocation,
  normalizeCgroupPath,
  podCgroupLocation,
} from './naming.js';
export {
  findPodCgroups,
  type LaunchableCgroup,
  listLaunchableCgroups,
  removePodCgroups,
} from './scan.js';
