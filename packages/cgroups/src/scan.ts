import { type Dirent, existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Cgroup, openCgroup } from './cgroup.js';
import type { CgroupHierarchy } from './hierarchy.js';
import { type CgroupNaming, type LaunchableCgroupIds, podCgroupLocation } from './naming.js';

/** A launchable cgroup with processes in it, as `p2-cgroup-info` reported them. */
export interface LaunchableCgroup {
  /** Empty for flat names (they do not carry the node). */
  node: string;
  pod: string;
  launchable: string;
  /** Path relative to the mount (below `parent`). */
  cgroup: string;
}

async function dirs(path: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

async function hasProcesses(dir: string): Promise<boolean> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text.trim() !== '';
}

/**
 * Lists launchable cgroups that have processes, in P2's nested (`p2/<node>/<pod>/<launchable>`)
 * and flat (`<pod>__<launchable>`) forms, under `parent` of the cpu hierarchy (v1) or the unified
 * one (v2) — what P2's `p2-cgroup-info` printed, e.g. to find what really runs on a host.
 *
 * @example await listLaunchableCgroups(hierarchy) // [{ node: 'h1', pod: 'hello', launchable: 'app', cgroup: 'p2/h1/hello/app' }]
 */
export async function listLaunchableCgroups(
  hierarchy: CgroupHierarchy,
  options: { parent?: string } = {},
): Promise<LaunchableCgroup[]> {
  const mount =
    hierarchy.version === 2 ? hierarchy.root : (hierarchy.mounts.cpu ?? hierarchy.mounts.memory);
  if (mount === undefined) return [];
  const base = join(mount, options.parent ?? '');
  const found: LaunchableCgroup[] = [];
  for (const name of await dirs(base)) {
    const flat = /^(.+?)__(.+)$/.exec(name);
    if (flat && (await hasProcesses(join(base, name))))
      found.push({ node: '', pod: flat[1] as string, launchable: flat[2] as string, cgroup: name });
  }
  for (const node of await dirs(join(base, 'p2')))
    for (const pod of await dirs(join(base, 'p2', node)))
      for (const launchable of await dirs(join(base, 'p2', node, pod)))
        if (await hasProcesses(join(base, 'p2', node, pod, launchable)))
          found.push({ node, pod, launchable, cgroup: ['p2', node, pod, launchable].join('/') });
  return found.sort((a, b) => a.cgroup.localeCompare(b.cgroup));
}

/** Each distinct directory a cgroup path lives in (co-mounted v1 controllers share one). */
function mountRoots(hierarchy: CgroupHierarchy): string[] {
  return hierarchy.version === 2 ? [hierarchy.root] : [...new Set(Object.values(hierarchy.mounts))];
}

/**
 * Every cgroup of one pod that exists now, in either form — flat `<pod>__<launchable>` and nested
 * `p2/<node>/<pod>` (with its launchables below) — under the naming's parent and, when one is set,
 * under the mount root too: what removing a pod from a host that changed its naming must remove.
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_NAME`
 * @example for (const cgroup of await findPodCgroups(hierarchy, {}, { node: 'h1', pod: 'hello' })) await cgroup.remove({ kill: true });
 */
export async function findPodCgroups(
  hierarchy: CgroupHierarchy,
  naming: CgroupNaming,
  ids: Omit<LaunchableCgroupIds, 'launchable'>,
): Promise<Cgroup[]> {
  const found = new Map<string, Cgroup>();
  for (const parent of new Set([naming.parent ?? '', ...(naming.onlyParent ? [] : [''])])) {
    const nested = openCgroup(hierarchy, podCgroupLocation({ parent }, ids));
    if (nested.uniqueDirectories().some((dir) => existsSync(dir))) found.set(nested.path, nested);
    // `__` never occurs in an id, so this prefix is this pod's and no other's.
    const prefix = `${ids.pod}__`;
    for (const root of mountRoots(hierarchy))
      for (const name of await dirs(join(root, parent)))
        if (name.startsWith(prefix) && name.length > prefix.length) {
          const flat = openCgroup(hierarchy, { parent, name });
          found.set(flat.path, flat);
        }
  }
  return [...found.values()];
}

/**
 * Removes every cgroup of one pod ({@link findPodCgroups}: either form, under the naming's parent
 * and the mount root), SIGKILLing what still runs in them.
 *
 * @returns the paths removed
 * @throws {CgroupsError} `P2_CGROUPS_BUSY` when a process outlives its SIGKILL, `P2_CGROUPS_WRITE_FAILED`
 * @example await removePodCgroups(hierarchy, {}, { node: 'h1', pod: 'hello' }) // ['hello__app']
 */
export async function removePodCgroups(
  hierarchy: CgroupHierarchy,
  naming: CgroupNaming,
  ids: Omit<LaunchableCgroupIds, 'launchable'>,
): Promise<string[]> {
  const removed: string[] = [];
  for (const cgroup of await findPodCgroups(hierarchy, naming, ids)) {
    await cgroup.remove({ kill: true });
    removed.push(cgroup.path);
  }
  return removed;
}
