import { readFile } from 'node:fs/promises';
import { describeError } from '@p2/errors';
import { CgroupsError, CgroupsErrorCodes } from './errors.js';

/** Controllers p2 uses: limits (cpu, memory), accounting (cpuacct), and pids for whole-tree kills. */
export const P2_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids'] as const;

/** A controller p2 uses. */
export type Controller = (typeof P2_CONTROLLERS)[number];

/** cgroup v1: one mount per controller (co-mounted controllers share a path). */
export interface CgroupHierarchyV1 {
  version: 1;
  /** Mount point of each controller p2 uses that is mounted. */
  mounts: Partial<Record<Controller, string>>;
}

/** cgroup v2: one unified hierarchy. */
export interface CgroupHierarchyV2 {
  version: 2;
  /** Mount point of the cgroup2 filesystem (or a directory that mimics it). */
  root: string;
}

/** Where the cgroup filesystem lives on this host. */
export type CgroupHierarchy = CgroupHierarchyV1 | CgroupHierarchyV2;

interface Mount {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/** Parses `/proc/<pid>/mountinfo`. @throws {CgroupsError} `P2_CGROUPS_MOUNTINFO` @internal */
function parseMountinfo(text: string, source = '/proc/self/mountinfo'): Mount[] {
  const mounts: Mount[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields.length < 10 || separator < 0 || separator + 3 > fields.length)
      throw new CgroupsError(
        CgroupsErrorCodes.MOUNTINFO,
        `${source} line ${index + 1} is not a mountinfo entry: ${JSON.stringify(line)}`,
      );
    mounts.push({
      mountPoint: unescapeMountPath(fields[4] ?? ''),
      fsType: fields[separator + 1] ?? '',
      superOptions: (fields[separator + 3] ?? '').split(','),
    });
  });
  return mounts;
}

/**
 * Decides which cgroup version to use from mountinfo text: v1 when a `cgroup` mount carries the
 * `cpu` or `memory` controller (hybrid hosts included: their cgroup2 mount then holds no useful
 * controllers), else v2 when a `cgroup2` mount exists.
 *
 * @throws {CgroupsError} `P2_CGROUPS_UNSUPPORTED`, `P2_CGROUPS_MOUNTINFO`
 * @example hierarchyFromMountinfo('… - cgroup2 cgroup2 rw') // { version: 2, root: '/sys/fs/cgroup' }
 */
export function hierarchyFromMountinfo(text: string, source?: string): CgroupHierarchy {
  const mounts = parseMountinfo(text, source);
  const v1: Partial<Record<Controller, string>> = {};
  for (const mount of mounts) {
    if (mount.fsType !== 'cgroup') continue;
    for (const controller of P2_CONTROLLERS)
      if (mount.superOptions.includes(controller) && v1[controller] === undefined)
        v1[controller] = mount.mountPoint;
  }
  if (v1.cpu !== undefined || v1.memory !== undefined) return { version: 1, mounts: v1 };
  const unified = mounts.find((mount) => mount.fsType === 'cgroup2');
  if (unified) return { version: 2, root: unified.mountPoint };
  throw new CgroupsError(
    CgroupsErrorCodes.UNSUPPORTED,
    `no cgroup v1 cpu/memory mount and no cgroup2 mount in ${source ?? 'mountinfo'}`,
    {
      hint: 'mount cgroup2 at /sys/fs/cgroup (or the v1 cpu and memory controllers) so pods can be limited',
    },
  );
}

let cached: Promise<CgroupHierarchy> | undefined;

/**
 * Detects the host's cgroup hierarchy from `/proc/self/mountinfo` (cached per process, as in P2).
 *
 * @throws {CgroupsError} `P2_CGROUPS_UNSUPPORTED`, `P2_CGROUPS_MOUNTINFO`
 * @example const hierarchy = await detectCgroups(); // { version: 1, mounts: { cpu: '/sys/fs/cgroup/cpu', … } }
 */
export function detectCgroups(
  options: { mountinfoPath?: string; fresh?: boolean } = {},
): Promise<CgroupHierarchy> {
  const path = options.mountinfoPath ?? '/proc/self/mountinfo';
  const load = async () => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new CgroupsError(
        CgroupsErrorCodes.MOUNTINFO,
        `cannot read ${path}: ${describeError(error)}`,
        { cause: error },
      );
    }
    return hierarchyFromMountinfo(text, path);
  };
  if (options.mountinfoPath !== undefined || options.fresh) return load();
  cached ??= load().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
