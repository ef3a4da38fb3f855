import { spawn } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '@p2/errors';
import { exit, once, up, waitSupervised } from './control.js';
import { RunitError, RunitErrorCodes } from './errors.js';
import { SPEC_FILE } from './scripts.js';
import {
  checkRunnable,
  randomSuffix,
  removeService,
  type WrittenService,
  writeService,
  writeServiceFiles,
} from './service.js';
import { resolveSpec, type ServiceSpec } from './spec.js';
import { isSupervised } from './status.js';

/** Minimal structured logger (pino-compatible). */
export interface RunitLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** How a new service gets a runsv. */
export type SupervisionPath = 'slot' | 'runsv' | 'runsvdir' | 'update';

/** Options of {@link RunsvDir}. */
export interface RunsvDirOptions {
  /** The service root runsvdir watches (P2: `/var/service`). */
  root: string;
  /**
   * Warm slots: idle, already supervised service directories (`p2-slot-*`, down) kept ready. A new
   * service takes one by rename, so it is supervised at once instead of at runsvdir's next scan.
   * @default 8
   */
  slots?: number;
  /**
   * When no slot is free: `wait` for runsvdir's scan (up to ~5 s), or start a `runsv` directly
   * (supervised at once, but runsvdir then retries a duplicate runsv for that directory every few
   * seconds, which fails harmlessly on runsv's lock).
   * @default 'wait'
   */
  whenNoSlot?: 'wait' | 'runsv';
  /** PATH for runsvdir and everything it starts (services do not inherit the preparer's env). @default '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' */
  path?: string;
  logger?: RunitLogger;
}

/** Result of {@link RunsvDir.install}. */
export interface InstalledService extends WrittenService {
  /** How the service got its runsv. */
  via: SupervisionPath;
}

const PIDFILE = '.p2-runsvdir.pid';
/** Age after which a `.p2-tmp-*` entry is a crashed writer's leftover. */
const STALE_TMP_MS = 60_000;
const SLOT_PREFIX = 'p2-slot-';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A `runsvdir` on a service root that the preparer owns: start it (or adopt the one already
 * running there, so restarting the preparer never restarts apps), install services so they are
 * supervised in milliseconds, remove them, stop it.
 *
 * @example
 * ```ts
 * const runsvdir = new RunsvDir({ root: '/var/service' });
 * await runsvdir.start();
 * const svc = await runsvdir.install({ name: 'hello__app__launch', entryPoint: '/data/pods/hello/app/current/bin/launch', user: 'hello' });
 * // { name: 'hello__app__launch', dir: '/var/service/hello__app__launch', created: true, via: 'slot' }
 * ```
 */
export class RunsvDir {
  readonly root: string;
  readonly #slots: number;
  readonly #whenNoSlot: 'wait' | 'runsv';
  readonly #env: NodeJS.ProcessEnv;
  readonly #logger: RunitLogger | undefined;
  #pid: number | undefined;
  #filling: Promise<void> | undefined;

  constructor(options: RunsvDirOptions) {
    this.root = options.root;
    this.#slots = options.slots ?? 8;
    this.#whenNoSlot = options.whenNoSlot ?? 'wait';
    this.#env = { PATH: options.path ?? DEFAULT_PATH };
    this.#logger = options.logger;
  }

  /** Pid of the runsvdir, once started or adopted. */
  get pid(): number | undefined {
    return this.#pid;
  }

  /**
   * Starts runsvdir on the root (creating the root), or adopts a live one recorded there, then
   * prepares the warm slots in the background.
   *
   * @throws {RunitError} `P2_RUNIT_RUNSVDIR_FAILED`
   */
  async start(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o755 });
    // Leftovers of a crashed writer. Only old ones: a fresh `.p2-tmp-*` may belong to another
    // RunsvDir on this root that is writing a slot or installing a service right now.
    for (const entry of await readdir(this.root)) {
      if (!entry.startsWith('.p2-tmp-')) continue;
      const path = join(this.root, entry);
      const info = await lstat(path).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > STALE_TMP_MS)
        await rm(path, { recursive: true, force: true }).catch(() => undefined);
    }
    const running = await this.#findRunning();
    if (running !== undefined) {
      this.#pid = running;
      await writeFile(join(this.root, PIDFILE), `${running}\n`);
      this.#logger?.info({ root: this.root, pid: running }, 'adopted running runsvdir');
      void this.fillSlots();
      return;
    }
    const child = spawn('runsvdir', ['-P', this.root, `log: ${'.'.repeat(120)}`], {
      detached: true,
      stdio: 'ignore',
      env: this.#env,
    });
    const spawned = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    if (!spawned || child.pid === undefined)
      throw new RunitError(
        RunitErrorCodes.RUNSVDIR_FAILED,
        `cannot start runsvdir on ${this.root}`,
        {
          hint: 'install runit (apt-get install runit) so runsvdir, runsv, sv, chpst and svlogd are on PATH',
        },
      );
    // The preparer may exit; runsvdir (own process group) keeps supervising.
    child.unref();
    this.#pid = child.pid;
    await writeFile(join(this.root, PIDFILE), `${child.pid}\n`);
    this.#logger?.info({ root: this.root, pid: child.pid }, 'runsvdir started');
    void this.fillSlots();
  }

  /**
   * Stops runsvdir. `stopServices: true` sends HUP: runsvdir TERMs every runsv, which stop their
   * services and exit; this waits until no service is supervised any more. Otherwise TERM: runsvdir
   * exits and services keep running under their runsv.
   */
  async stop(options: { stopServices?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const pid = this.#pid;
    if (pid === undefined) return;
    const timeoutMs = options.timeoutMs ?? 10_000;
    try {
      process.kill(pid, options.stopServices ? 'SIGHUP' : 'SIGTERM');
    } catch {
      // already gone
    }
    const deadline = Date.now() + timeoutMs;
    while (alive(pid) && !(await this.#isZombie(pid)) && Date.now() < deadline) await sleep(10);
    if (options.stopServices) {
      for (const entry of await readdir(this.root).catch(() => [] as string[])) {
        const dir = join(this.root, entry);
        // runsvdir TERMs the runsv it started; a runsv started directly (whenNoSlot: 'runsv') gets no
        // TERM from it. `exit` covers both and escalates to SIGKILL for a service that ignores TERM.
        if (await isSupervised(dir))
          await exit(dir, { timeoutMs: Math.max(1000, deadline - Date.now()), force: true }).catch(
            () => undefined,
          );
        if (await isSupervised(dir))
          this.#logger?.warn({ dir }, 'runsv still running after runsvdir stop');
      }
    }
    await rm(join(this.root, PIDFILE), { force: true });
    this.#pid = undefined;
  }

  async #watches(pid: number): Promise<boolean> {
    if (!alive(pid) || (await this.#isZombie(pid))) return false;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    return (argv[0] ?? '').endsWith('runsvdir') && argv.slice(1).includes(this.root);
  }

  /** The runsvdir already watching this root: the recorded pid, else any (e.g. the system's). */
  async #findRunning(): Promise<number | undefined> {
    const recorded = Number(
      (await readFile(join(this.root, PIDFILE), 'utf8').catch(() => '')).trim(),
    );
    if (recorded > 0 && (await this.#watches(recorded))) return recorded;
    for (const entry of await readdir('/proc').catch(() => [] as string[]))
      if (/^[0-9]+$/.test(entry) && (await this.#watches(Number(entry)))) return Number(entry);
    return undefined;
  }

  async #isZombie(pid: number): Promise<boolean> {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return / Z /.test(stat.slice(stat.lastIndexOf(')')));
  }

  /** Service names under the root (slots and hidden entries excluded). */
  async services(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !e.name.startsWith(SLOT_PREFIX))
      .map((e) => e.name)
      .sort();
  }

  async #slotNames(): Promise<string[]> {
    return (await readdir(this.root)).filter((name) => name.startsWith(SLOT_PREFIX));
  }

  /** Slots runsv already supervises (ready to be taken). */
  async readySlots(): Promise<string[]> {
    const ready: string[] = [];
    for (const name of await this.#slotNames())
      if (await isSupervised(join(this.root, name))) ready.push(name);
    return ready;
  }

  /** Tops the slot pool up to its size (in the background; runsvdir adopts new slots at its next scan). */
  fillSlots(): Promise<void> {
    this.#filling ??= (async () => {
      try {
        const missing = this.#slots - (await this.#slotNames()).length;
        for (let i = 0; i < missing; i++) await this.#createSlot();
      } catch (error) {
        this.#logger?.warn(
          { root: this.root, error: describeError(error) },
          'cannot create warm runit slots',
        );
      } finally {
        this.#filling = undefined;
      }
    })();
    return this.#filling;
  }

  /** Waits until `count` slots are supervised (useful before a burst of deploys, and in tests). */
  async waitForSlots(count = this.#slots, timeoutMs = 15_000): Promise<void> {
    await this.fillSlots();
    const deadline = Date.now() + timeoutMs;
    while ((await this.readySlots()).length < count) {
      if (Date.now() >= deadline)
        throw new RunitError(
          RunitErrorCodes.TIMEOUT,
          `only ${(await this.readySlots()).length} of ${count} runit slots supervised after ${timeoutMs} ms`,
          {
            hint: 'is runsvdir running on this root?',
          },
        );
      await sleep(50);
    }
  }

  async #createSlot(): Promise<void> {
    const name = `${SLOT_PREFIX}${randomSuffix()}`;
    const tmp = join(this.root, `.p2-tmp-${name}`);
    await mkdir(join(tmp, 'log'), { recursive: true, mode: 0o755 });
    const idle =
      '#!/bin/sh\n# A warm p2 slot: supervised but down until p2 renames it into a service.\nexec sleep 3600\n';
    await writeFile(join(tmp, 'run'), idle, { mode: 0o755 });
    await writeFile(join(tmp, 'log', 'run'), idle, { mode: 0o755 });
    await writeFile(join(tmp, 'down'), '');
    await writeFile(join(tmp, 'log', 'down'), '');
    await rename(tmp, join(this.root, name));
  }

  async #takeSlot(): Promise<string | undefined> {
    for (const name of await this.readySlots()) {
      // Claim by renaming to a hidden name: only one claimer wins, and runsv follows the inode.
      const claimed = join(this.root, `.p2-tmp-claim-${randomSuffix()}`);
      try {
        await rename(join(this.root, name), claimed);
        return claimed;
      } catch {
        // taken by a concurrent install
      }
    }
    return undefined;
  }

  /**
   * Writes a service and makes sure runsv supervises it at once: a new service takes a warm slot
   * (already supervised) by rename, so it starts within milliseconds; without a free slot it
   * follows `whenNoSlot`. Policy `always` starts the service; `never` leaves it down (start it
   * with {@link RunsvDir.start} / `once`). An existing service only gets its files replaced.
   *
   * @throws {RunitError} `P2_RUNIT_INVALID_NAME`, `P2_RUNIT_INVALID_SPEC`, `P2_RUNIT_ENTRY_POINT_MISSING`, `P2_RUNIT_WRITE_FAILED`, `P2_RUNIT_NOT_SUPERVISED`, `P2_RUNIT_TIMEOUT`
   */
  async install(
    input: ServiceSpec,
    options: { startTimeoutMs?: number } = {},
  ): Promise<InstalledService> {
    const spec = resolveSpec(input);
    await checkRunnable(spec);
    const dir = join(this.root, spec.name);
    const startTimeoutMs = options.startTimeoutMs ?? 10_000;
    const existing = await readFile(join(dir, SPEC_FILE)).then(
      () => true,
      () => false,
    );
    if (existing) return { ...(await writeService(this.root, input)), via: 'update' };

    const slot = await this.#takeSlot();
    if (slot !== undefined) {
      try {
        await writeServiceFiles(slot, spec, { keepDown: true });
        await rename(slot, dir);
      } catch (error) {
        await this.#dropSlot(slot);
        const code = (error as NodeJS.ErrnoException).code;
        // A concurrent install of the same service won the rename: update it like an existing one.
        if (code === 'ENOTEMPTY' || code === 'EEXIST')
          return { ...(await writeService(this.root, input)), via: 'update' };
        throw error;
      }
      void this.fillSlots();
      await rm(join(dir, 'log', 'down'), { force: true });
      // The log pipe already exists (runsv made it when the slot started): output is buffered until svlogd runs.
      await up(dir, { log: true, timeoutMs: 0 });
      if (spec.restartPolicy === 'always') {
        await rm(join(dir, 'down'), { force: true });
        await up(dir, { timeoutMs: startTimeoutMs });
      }
      this.#logger?.debug({ service: spec.name }, 'service supervised via warm slot');
      return { name: spec.name, dir, created: true, via: 'slot' };
    }

    const written = await writeService(this.root, input);
    if (!written.created) return { ...written, via: 'update' };
    let via: SupervisionPath = 'runsvdir';
    if (this.#whenNoSlot === 'runsv' && !(await isSupervised(dir))) {
      const child = spawn('runsv', [dir], { detached: true, stdio: 'ignore', env: this.#env });
      child.unref();
      via = 'runsv';
    }
    await waitSupervised(dir, 30_000);
    this.#logger?.debug({ service: spec.name, via }, 'service supervised');
    return { ...written, via };
  }

  async #dropSlot(slot: string): Promise<void> {
    await exit(slot, { timeoutMs: 5000 }).catch(() => undefined);
    await rm(slot, { recursive: true, force: true });
  }

  /**
   * Starts a service according to its restart policy, as P2 did: `always` ⇒ restart (up), `never` ⇒ once.
   *
   * @throws {RunitError} `P2_RUNIT_NOT_SUPERVISED`, `P2_RUNIT_TIMEOUT`
   */
  async startService(name: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const dir = join(this.root, name);
    const meta = JSON.parse(await readFile(join(dir, SPEC_FILE), 'utf8')) as {
      restartPolicy?: string;
    };
    if (meta.restartPolicy === 'never') await once(dir, options);
    else await up(dir, options);
  }

  /**
   * Stops and deletes a service (see {@link removeService}).
   *
   * @throws {RunitError} `P2_RUNIT_INVALID_NAME`, `P2_RUNIT_TIMEOUT`, `P2_RUNIT_WRITE_FAILED`
   */
  remove(name: string, options: { timeoutMs?: number } = {}): Promise<boolean> {
    return removeService(this.root, name, options);
  }
}
