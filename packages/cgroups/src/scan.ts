import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupHierarchy } from './hierarchy.js';

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
