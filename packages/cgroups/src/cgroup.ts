import { type Dirent, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '@p2/errors';
import { CgroupsError, CgroupsErrorCodes } from './errors.js';
import type { CgroupHierarchy, Controller } from './hierarchy.js';
import { P2_CONTROLLERS } from './hierarchy.js';
import { type CgroupLimits, CPU_PERIOD_US, resolveLimits } from './limits.js';

/** Minimal structured logger (pino-compatible). */
export interface CgroupsLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Where a cgroup lives: `parent` must already exist, `name` segments are created below it. */
export interface CgroupLocation {
  /** Existing parent cgroup, relative to each mount (`''` = the mount root). @default '' */
  parent?: string;
  /** The cgroup's own path below `parent`, `/`-separated (e.g. `p2/node1/hello/app`). */
  name: string;
}

/** Usage figures of a cgroup. Fields are `undefined` when the kernel does not provide them. */
export interface CgroupUsage {
  /** Current memory use in bytes. */
  memoryBytes: number | undefined;
  /** Highest memory use seen, in bytes. */
  memoryPeakBytes: number | undefined;
  /** Processes the kernel OOM killer killed in this cgroup. */
  oomKills: number | undefined;
  /** CPU time used, in microseconds. */
  cpuMicros: number | undefined;
  /** Periods in which the CPU quota throttled the group. */
  throttledPeriods: number | undefined;
  /** Processes now in the cgroup (this group only). */
  processes: number;
}

/** What {@link Cgroup.setLimits} did. */
export interface AppliedLimits {
  /** Limits that could not be enforced because their controller is not available (logged). */
  unenforced: Controller[];
}

/** Options of {@link Cgroup.remove}. */
export interface RemoveOptions {
  /** SIGKILL remaining processes first; without it, a non-empty cgroup is an error. @default false */
  kill?: boolean;
  /** How long to wait for killed processes to go. @default 5000 */
  timeoutMs?: number;
}

const SEGMENT = /^[A-Za-z0-9_@:+=,.-]+$/;

/**
 * Throws unless every segment of a cgroup path is a plain directory name (and, with `single`,
 * there is exactly one).
 * @internal
 */
export function assertCgroupPath(
  path: string,
  what: string,
  allowEmpty: boolean,
  single = false,
): string[] {
  if (path === '' && allowEmpty) return [];
  const segments = single ? [path] : path.split('/');
  for (const segment of segments) {
    const bad =
      segment === '' ||
      segment === '.' ||
      segment === '..' ||
      !SEGMENT.test(segment) ||
      /^(cgroup|cpu|cpuacct|memory|pids|io|cpuset|hugetlb|rdma|misc)\./.test(segment);
    if (bad)
      throw new CgroupsError(
        CgroupsErrorCodes.INVALID_NAME,
        `${what} ${JSON.stringify(path)} has an unusable segment ${JSON.stringify(segment)}`,
        {
          hint: 'cgroup path segments are plain names (letters, digits, _ - . @ : + = ,) and must not look like control files such as memory.max',
          details: { path },
        },
      );
  }
  return segments;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CgroupsError(
      CgroupsErrorCodes.READ_FAILED,
      `cannot read ${path}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

function keyed(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name === key && value !== undefined) return Number(value);
  }
  return undefined;
}

function num(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text.trim());
  return Number.isFinite(value) ? value : undefined;
}

/** The v2 controllers p2 enables for its groups. */
const V2_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

/**
 * One cgroup (a pod's or a launchable's) in a v1 or v2 hierarchy. Get one with {@link createCgroup}
 * or {@link openCgroup}.
 */
export class Cgroup {
  /** `parent/name`, relative to each mount. */
  readonly path: string;
  readonly #logger: CgroupsLogger | undefined;

  /** @internal use {@link createCgroup} / {@link openCgroup}. */
  constructor(
    readonly hierarchy: CgroupHierarchy,
    readonly location: CgroupLocation,
    logger?: CgroupsLogger,
  ) {
    assertCgroupPath(location.parent ?? '', 'cgroup parent', true);
    assertCgroupPath(location.name, 'cgroup name', false);
    this.path = location.parent ? `${location.parent}/${location.name}` : location.name;
    this.#logger = logger;
  }

  /** The cgroup's directory per controller (v2: one directory under `'unified'`). */
  directories(): Map<Controller | 'unified', string> {
    const dirs = new Map<Controller | 'unified', string>();
    if (this.hierarchy.version === 2) dirs.set('unified', join(this.hierarchy.root, this.path));
    else
      for (const controller of P2_CONTROLLERS) {
        const mount = this.hierarchy.mounts[controller];
        if (mount !== undefined) dirs.set(controller, join(mount, this.path));
      }
    return dirs;
  }

  /** Distinct directories (co-mounted v1 controllers share one). */
  uniqueDirectories(): string[] {
    return [...new Set(this.directories().values())];
  }

  /**
   * The `cgroup.procs` files a process writes its pid to in order to join this cgroup — what a
   * runit `run` script does before exec'ing the app.
   *
   * @example cgroup.procsFiles() // ['/sys/fs/cgroup/cpu/p2/h1/hello/app/cgroup.procs', …]
   */
  procsFiles(): string[] {
    return this.uniqueDirectories().map((dir) => join(dir, 'cgroup.procs'));
  }

  async #write(file: string, value: string): Promise<void> {
    const current = await readText(file).catch(() => undefined);
    if (current !== undefined && current.trim() === value) return;
    try {
      await writeFile(file, `${value}\n`);
    } catch (error) {
      throw new CgroupsError(
        CgroupsErrorCodes.WRITE_FAILED,
        `cannot write ${JSON.stringify(value)} to ${file}: ${describeError(error)}`,
        {
          cause: error,
          hint: "the preparer must run as root; a limit below what the group uses now or above its parent's is refused by the kernel",
          details: { file, value },
        },
      );
    }
    this.#logger?.debug({ file, value }, 'cgroup file written');
  }

  /** @internal */
  async create(): Promise<void> {
    const parent = this.location.parent ?? '';
    const roots =
      this.hierarchy.version === 2
        ? [this.hierarchy.root]
        : [...new Set(Object.values(this.hierarchy.mounts))];
    for (const root of roots) {
      const parentDir = join(root, parent);
      if (!existsSync(parentDir))
        throw new CgroupsError(
          CgroupsErrorCodes.PARENT_MISSING,
          `parent cgroup ${JSON.stringify(parent)} does not exist at ${parentDir}`,
          {
            hint: 'create the parent cgroup first (e.g. when the host is set up) or fix the configured cgroup parent',
            details: { parent, dir: parentDir },
          },
        );
    }
    if (this.hierarchy.version === 2) await this.#enableV2Controllers();
    for (const dir of this.uniqueDirectories()) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (error) {
        throw new CgroupsError(
          CgroupsErrorCodes.WRITE_FAILED,
          `cannot create cgroup ${dir}: ${describeError(error)}`,
          { cause: error },
        );
      }
    }
  }

  /** v2: a controller is usable in a group only if every ancestor enables it in cgroup.subtree_control. */
  async #enableV2Controllers(): Promise<void> {
    if (this.hierarchy.version !== 2) return;
    const root = this.hierarchy.root;
    const available = ((await readText(join(root, 'cgroup.controllers'))) ?? '')
      .trim()
      .split(/\s+/);
    const wanted = V2_CONTROLLERS.filter((c) => available.includes(c));
    if (wanted.length === 0) return;
    const segments = this.path.split('/');
    let dir = root;
    for (let i = 0; i < segments.length; i++) {
      const file = join(dir, 'cgroup.subtree_control');
      const enabled = ((await readText(file)) ?? '').trim().split(/\s+/);
      const missing = wanted.filter((c) => !enabled.includes(c));
      if (missing.length > 0) {
        try {
          await writeFile(file, missing.map((c) => `+${c}`).join(' '));
        } catch (error) {
          throw new CgroupsError(
            CgroupsErrorCodes.WRITE_FAILED,
            `cannot enable ${missing.join(', ')} in ${file}: ${describeError(error)}`,
            {
              cause: error,
              hint: 'cgroup v2 allows controllers only in groups without processes of their own ("no internal processes" rule)',
            },
          );
        }
      }
      dir = join(dir, segments[i] as string);
      await mkdir(dir, { recursive: true }).catch(() => undefined);
    }
  }

  /** Controllers actually usable in this group (v2: listed in its `cgroup.controllers`). */
  async #availableV2(): Promise<string[]> {
    const dir = this.directories().get('unified') as string;
    const own = await readText(join(dir, 'cgroup.controllers'));
    if (own !== undefined) return own.trim().split(/\s+/);
    // A directory tree that only mimics cgroupfs has no per-group file: fall back to the root's.
    if (this.hierarchy.version !== 2) return [];
    return ((await readText(join(this.hierarchy.root, 'cgroup.controllers'))) ?? '')
      .trim()
      .split(/\s+/);
  }

  /**
   * Sets CPU and memory limits with P2's semantics (spec 02 §5): CPU quota = cpus × period (1 s);
   * memory soft limit = `memory`, hard limit = 2 × `memory`, memory+swap capped at the hard limit.
   * v2: `cpu.max`, `memory.max` = hard, `memory.swap.max` = 0 (the same total bound as v1's
   * `memsw` = hard); v2 has no soft limit with v1's meaning, so the soft limit is not written there.
   * Files are only written when their value differs. Missing controllers are logged and reported.
   *
   * @throws {CgroupsError} `P2_CGROUPS_INVALID_LIMIT`, `P2_CGROUPS_WRITE_FAILED`
   * @example await cgroup.setLimits({ cpus: 2, memory: '1G' }) // { unenforced: [] }
   */
  async setLimits(limits: CgroupLimits): Promise<AppliedLimits> {
    const resolved = resolveLimits(limits);
    const unenforced: Controller[] = [];
    const dirs = this.directories();
    if (this.hierarchy.version === 1) {
      const cpu = dirs.get('cpu');
      if (cpu === undefined) {
        if (resolved.cpuQuotaUs !== undefined) unenforced.push('cpu');
      } else {
        // Reset the quota first: the kernel refuses a period change that would violate the old quota.
        await this.#write(join(cpu, 'cpu.cfs_quota_us'), '-1').catch(() => undefined);
        await this.#write(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        await this.#write(join(cpu, 'cpu.cfs_quota_us'), String(resolved.cpuQuotaUs ?? -1));
      }
      const memory = dirs.get('memory');
      if (memory === undefined) {
        if (resolved.memoryHard !== undefined) unenforced.push('memory');
      } else {
        const hard = String(resolved.memoryHard ?? -1);
        const memsw = join(memory, 'memory.memsw.limit_in_bytes');
        const hasMemsw = existsSync(memsw);
        // memsw must stay >= limit at every step, hence P2's order.
        if (hasMemsw) await this.#write(memsw, '-1');
        await this.#write(
          join(memory, 'memory.soft_limit_in_bytes'),
          String(resolved.memorySoft ?? -1),
        );
        await this.#write(join(memory, 'memory.limit_in_bytes'), hard);
        if (hasMemsw) await this.#write(memsw, hard);
      }
    } else {
      const dir = dirs.get('unified') as string;
      const available = await this.#availableV2();
      if (available.includes('cpu'))
        await this.#write(join(dir, 'cpu.max'), `${resolved.cpuQuotaUs ?? 'max'} ${CPU_PERIOD_US}`);
      else if (resolved.cpuQuotaUs !== undefined) unenforced.push('cpu');
      if (available.includes('memory')) {
        await this.#write(join(dir, 'memory.max'), String(resolved.memoryHard ?? 'max'));
        // memory.swap.max is absent when swap accounting is off; the total bound then is memory.max anyway.
        await this.#write(
          join(dir, 'memory.swap.max'),
          resolved.memoryHard === undefined ? 'max' : '0',
        ).catch((error: unknown) =>
          this.#logger?.debug(
            { cgroup: this.path, error: describeError(error) },
            'memory.swap.max not written',
          ),
        );
      } else if (resolved.memoryHard !== undefined) unenforced.push('memory');
    }
    if (unenforced.length > 0)
      this.#logger?.warn(
        { cgroup: this.path, unenforced },
        'cgroup controllers not available; limits not enforced',
      );
    return { unenforced };
  }

  /**
   * Moves a process (and, on v1, only that process's thread group) into this cgroup in every
   * controller.
   *
   * @throws {CgroupsError} `P2_CGROUPS_NOT_FOUND`, `P2_CGROUPS_WRITE_FAILED`
   * @example await cgroup.addProcess(child.pid);
   */
  async addProcess(pid: number): Promise<void> {
    for (const file of this.procsFiles()) {
      if (!existsSync(file) && this.hierarchy.version === 1)
        throw new CgroupsError(
          CgroupsErrorCodes.NOT_FOUND,
          `cgroup ${this.path} does not exist (${file} missing)`,
        );
      try {
        await writeFile(file, `${pid}\n`, { flag: 'a' });
      } catch (error) {
        throw new CgroupsError(
          CgroupsErrorCodes.WRITE_FAILED,
          `cannot move pid ${pid} into ${file}: ${describeError(error)}`,
          {
            cause: error,
            details: { pid, file },
          },
        );
      }
    }
  }

  /** Pids in this cgroup (not its children), across every controller directory. */
  async processes(): Promise<number[]> {
    const pids = new Set<number>();
    for (const file of this.procsFiles()) {
      const text = await readText(file);
      for (const line of (text ?? '').split('\n')) if (line.trim() !== '') pids.add(Number(line));
    }
    return [...pids];
  }

  /** True when the cgroup's directories exist. */
  async exists(): Promise<boolean> {
    for (const dir of this.uniqueDirectories()) if (!existsSync(dir)) return false;
    return true;
  }

  /**
   * Reads memory, CPU and OOM figures.
   *
   * @throws {CgroupsError} `P2_CGROUPS_NOT_FOUND`, `P2_CGROUPS_READ_FAILED`
   * @example const { memoryBytes, oomKills } = await cgroup.usage();
   */
  async usage(): Promise<CgroupUsage> {
    if (!(await this.exists()))
      throw new CgroupsError(CgroupsErrorCodes.NOT_FOUND, `cgroup ${this.path} does not exist`);
    const dirs = this.directories();
    const processes = (await this.processes()).length;
    if (this.hierarchy.version === 2) {
      const dir = dirs.get('unified') as string;
      const cpuStat = await readText(join(dir, 'cpu.stat'));
      return {
        memoryBytes: num(await readText(join(dir, 'memory.current'))),
        memoryPeakBytes: num(await readText(join(dir, 'memory.peak'))),
        oomKills: keyed(await readText(join(dir, 'memory.events')), 'oom_kill'),
        cpuMicros: keyed(cpuStat, 'usage_usec'),
        throttledPeriods: keyed(cpuStat, 'nr_throttled'),
        processes,
      };
    }
    const memory = dirs.get('memory');
    const cpuacct = dirs.get('cpuacct');
    const cpu = dirs.get('cpu');
    const nanos =
      cpuacct === undefined ? undefined : num(await readText(join(cpuacct, 'cpuacct.usage')));
    return {
      memoryBytes:
        memory === undefined
          ? undefined
          : num(await readText(join(memory, 'memory.usage_in_bytes'))),
      memoryPeakBytes:
        memory === undefined
          ? undefined
          : num(await readText(join(memory, 'memory.max_usage_in_bytes'))),
      oomKills:
        memory === undefined
          ? undefined
          : keyed(await readText(join(memory, 'memory.oom_control')), 'oom_kill'),
      cpuMicros: nanos === undefined ? undefined : Math.floor(nanos / 1000),
      throttledPeriods:
        cpu === undefined
          ? undefined
          : keyed(await readText(join(cpu, 'cpu.stat')), 'nr_throttled'),
      processes,
    };
  }

  /**
   * Removes the cgroup and its child groups in every controller. With `kill`, remaining processes
   * are SIGKILLed first (v2: `cgroup.kill`); without it a non-empty group is an error and nothing is
   * removed. Removing a missing cgroup is not an error.
   *
   * @throws {CgroupsError} `P2_CGROUPS_BUSY`, `P2_CGROUPS_WRITE_FAILED`
   * @example await cgroup.remove({ kill: true });
   */
  async remove(options: RemoveOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const deadline = Date.now() + timeoutMs;
    const dirs = this.uniqueDirectories();
    const trees: string[][] = [];
    for (const dir of dirs) trees.push(await subtree(dir));
    const all = trees.flat();
    const pidsIn = async () => {
      const pids = new Set<number>();
      for (const dir of all)
        for (const line of ((await readText(join(dir, 'cgroup.procs'))) ?? '').split('\n'))
          if (line.trim()) pids.add(Number(line));
      return [...pids];
    };
    let pids = await pidsIn();
    if (pids.length > 0 && !options.kill)
      throw new CgroupsError(
        CgroupsErrorCodes.BUSY,
        `cgroup ${this.path} still has processes ${pids.join(', ')}`,
        {
          hint: 'stop the service first, or remove with { kill: true }',
          details: { pids },
        },
      );
    while (pids.length > 0) {
      if (this.hierarchy.version === 2 && existsSync(join(all[0] as string, 'cgroup.kill')))
        await writeFile(join(all[0] as string, 'cgroup.kill'), '1').catch(() => undefined);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await sleep(20);
      pids = await pidsIn();
      if (pids.length > 0 && Date.now() > deadline)
        throw new CgroupsError(
          CgroupsErrorCodes.BUSY,
          `processes ${pids.join(', ')} of cgroup ${this.path} did not die within ${timeoutMs} ms`,
          {
            details: { pids },
          },
        );
    }
    // Deepest first; a just-killed process may keep the group busy for a moment.
    for (const dir of all.sort((a, b) => b.length - a.length)) {
      for (;;) {
        try {
          await rmdir(dir);
          break;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code === 'ENOTEMPTY' && !existsSync(join(dir, 'cgroup.procs'))) {
            // A mimic tree (plain directory): remove its files too.
            for (const entry of await readdir(dir, { withFileTypes: true }))
              if (entry.isFile()) await rm(join(dir, entry.name));
            continue;
          }
          if (code === 'EBUSY' && Date.now() < deadline) {
            await sleep(20);
            continue;
          }
          throw new CgroupsError(
            CgroupsErrorCodes.WRITE_FAILED,
            `cannot remove cgroup ${dir}: ${describeError(error)}`,
            { cause: error },
          );
        }
      }
    }
  }
}

async function subtree(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const result = [dir];
  for (const entry of entries)
    if (entry.isDirectory()) result.push(...(await subtree(join(dir, entry.name))));
  return result;
}

/**
 * Creates (or re-opens) a cgroup below an existing parent and applies limits when given.
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_NAME`, `P2_CGROUPS_PARENT_MISSING`, `P2_CGROUPS_WRITE_FAILED`, `P2_CGROUPS_INVALID_LIMIT`
 * @example
 * ```ts
 * const hierarchy = await detectCgroups();
 * const cgroup = await createCgroup(hierarchy, { name: 'hello__app' }, { cpus: 1, memory: '512M' });
 * cgroup.procsFiles(); // ['/sys/fs/cgroup/cpu/hello__app/cgroup.procs', …]
 * ```
 */
export async function createCgroup(
  hierarchy: CgroupHierarchy,
  location: CgroupLocation,
  limits?: CgroupLimits,
  options: { logger?: CgroupsLogger } = {},
): Promise<Cgroup> {
  const cgroup = new Cgroup(hierarchy, location, options.logger);
  await cgroup.create();
  if (limits !== undefined) await cgroup.setLimits(limits);
  return cgroup;
}

/**
 * A handle on a cgroup without creating it (for reading usage or removing).
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_NAME`
 * @example await openCgroup(hierarchy, { name: 'p2/h1/hello/app' }).remove({ kill: true });
 */
export function openCgroup(
  hierarchy: CgroupHierarchy,
  location: CgroupLocation,
  options: { logger?: CgroupsLogger } = {},
): Cgroup {
  return new Cgroup(hierarchy, location, options.logger);
}
