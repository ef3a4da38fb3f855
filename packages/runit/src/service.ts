import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import {
  access,
  chmod,
  chown,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { exit, restart } from './control.js';
import { RunitError, RunitErrorCodes } from './errors.js';
import { assertServiceName } from './names.js';
import {
  FINISH_COMMAND_FILE,
  renderFinish,
  renderFinishCommand,
  renderLogConfig,
  renderLogRun,
  renderRun,
  SPEC_FILE,
} from './scripts.js';
import { type ResolvedSpec, resolveSpec, type ServiceSpec } from './spec.js';
import { isSupervised } from './status.js';

/** Result of writing a service. */
export interface WrittenService {
  name: string;
  /** Absolute service directory. */
  dir: string;
  /** True when the directory was new; false when an existing service's files were replaced. */
  created: boolean;
  /**
   * True when an existing service got a different log command and its running log service was
   * restarted to take it (runsv keeps the output in its pipe meanwhile: nothing is lost).
   */
  logRestarted?: boolean;
}

const idCache = new Map<string, Promise<{ uid: number; gid: number }>>();

function ids(user: string): Promise<{ uid: number; gid: number }> {
  let cached = idCache.get(user);
  if (cached === undefined) {
    const query = (flag: string) =>
      new Promise<number>((resolve, reject) =>
        execFile('id', [flag, '--', user], (error, stdout) =>
          error
            ? reject(
                new RunitError(
                  RunitErrorCodes.INVALID_SPEC,
                  `user ${JSON.stringify(user)} does not exist`,
                  {
                    cause: error,
                    hint: 'the log and finish commands run as this user (default nobody); create it or choose another',
                  },
                ),
              )
            : resolve(Number(stdout.trim())),
        ),
      );
    cached = Promise.all([query('-u'), query('-g')]).then(([uid, gid]) => ({ uid, gid }));
    cached.catch(() => idCache.delete(user));
    idCache.set(user, cached);
  }
  return cached;
}

/** What p2 records about a service when it writes it (`p2-service.json` in its directory). */
export interface RecordedServiceSpec {
  name: string;
  restartPolicy: ServiceSpec['restartPolicy'];
  restartTimeoutMs: number;
  /** Absolute path of the executable the run script starts. */
  entryPoint: string;
  user: string;
  /** The require file the run script checks, when it checks one. */
  requireFile?: string;
}

/**
 * The record p2 wrote for the service in `dir` (`p2-service.json`), or undefined when there is
 * none (no such service, or one p2 did not write). Services written by older p2 lack `requireFile`.
 *
 * @example (await readServiceSpec('/var/service/hello__app__launch'))?.requireFile
 */
export async function readServiceSpec(dir: string): Promise<RecordedServiceSpec | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, SPEC_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const record = parsed as Partial<RecordedServiceSpec> | null;
  if (typeof record?.name !== 'string' || typeof record.entryPoint !== 'string') return undefined;
  return {
    name: record.name,
    restartPolicy: record.restartPolicy === 'never' ? 'never' : 'always',
    restartTimeoutMs:
      typeof record.restartTimeoutMs === 'number' ? record.restartTimeoutMs : 60_000,
    entryPoint: record.entryPoint,
    user: typeof record.user === 'string' ? record.user : '',
    ...(typeof record.requireFile === 'string' ? { requireFile: record.requireFile } : {}),
  };
}

/** Checks what must exist before a service can run. @internal */
export async function checkRunnable(spec: ResolvedSpec): Promise<void> {
  try {
    const st = await stat(spec.entryPoint);
    if (!st.isFile()) throw new Error('not a regular file');
    await access(spec.entryPoint, constants.X_OK);
  } catch (error) {
    throw new RunitError(
      RunitErrorCodes.ENTRY_POINT_MISSING,
      `entry point ${spec.entryPoint} of service ${spec.name} is missing or not executable (${describeError(error)})`,
      {
        cause: error,
        hint: 'install the launchable first; hoist entry points are files under the install dir (bin/launch by default) with the execute bit set',
        details: { service: spec.name, entryPoint: spec.entryPoint },
      },
    );
  }
  for (const dir of spec.envDirs)
    if (!existsSync(dir))
      throw new RunitError(
        RunitErrorCodes.INVALID_SPEC,
        `env dir ${dir} of service ${spec.name} does not exist`,
        {
          hint: 'write the pod and launchable env dirs before the service',
          details: { service: spec.name, envDir: dir },
        },
      );
}

/** Writes a file so readers see the old or the new content, never a mix. */
async function atomicWrite(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.p2-tmp-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/** The uid and gid of a helper's user; root (any uid 0 account) is refused. */
async function helperIds(
  spec: ResolvedSpec,
  field: 'log' | 'finish',
  user: string,
): Promise<{ uid: number; gid: number }> {
  const found = await ids(user);
  if (found.uid === 0)
    throw new RunitError(
      RunitErrorCodes.INVALID_SPEC,
      `service ${spec.name}: ${field}.user ${JSON.stringify(user)} is root (uid 0); helpers never run as root`,
      { details: { service: spec.name, field: `${field}.user` } },
    );
  return found;
}

/**
 * Writes (or rewrites) every file of a service into `dir`: `run`, `finish`, `p2-finish`, `log/run`,
 * `log/main/config`, `p2-service.json`, and the `down` file per restart policy. Updating an
 * existing service (`update`) with `keepHelpers`, its `log/run` and `p2-finish` are left as they are.
 * @returns whether `log/run` changed (an existing service's log service must restart to take it)
 * @internal
 */
export async function writeServiceFiles(
  dir: string,
  spec: ResolvedSpec,
  options: { keepDown?: boolean; update?: boolean } = {},
): Promise<{ logChanged: boolean }> {
  const logUser = await helperIds(spec, 'log', spec.log.user);
  if (spec.finish) await helperIds(spec, 'finish', spec.finish.user);
  try {
    await mkdir(join(dir, 'log'), { recursive: true, mode: 0o755 });
    const main = join(dir, 'log', 'main');
    if (!existsSync(main)) {
      await mkdir(main, { mode: 0o755 });
      await chown(main, logUser.uid, logUser.gid);
    }
    // A service's output may hold its secrets: the log directory is the log user's alone (root
    // reads it), never readable by other pods' users. Also tightens directories made 0755 before.
    await chmod(main, 0o700);
    await atomicWrite(join(main, 'config'), renderLogConfig(spec), 0o644);
    await atomicWrite(join(dir, 'run'), renderRun(spec), 0o755);
    await atomicWrite(join(dir, 'finish'), renderFinish(spec), 0o755);
    const logRun = join(dir, 'log', 'run');
    const before = await readFile(logRun, 'utf8').catch(() => undefined);
    let logChanged = false;
    // A warm slot has a log/run of its own: only a service's own helpers are ever kept.
    if (!(spec.keepHelpers && options.update && before !== undefined)) {
      const logScript = renderLogRun(spec);
      logChanged = before !== undefined && before !== logScript;
      await atomicWrite(logRun, logScript, 0o755);
      const finishCommand = renderFinishCommand(spec);
      if (finishCommand === undefined) await rm(join(dir, FINISH_COMMAND_FILE), { force: true });
      else await atomicWrite(join(dir, FINISH_COMMAND_FILE), finishCommand, 0o755);
    }
    const meta = {
      name: spec.name,
      restartPolicy: spec.restartPolicy,
      restartTimeoutMs: spec.restartTimeoutMs,
      entryPoint: spec.entryPoint,
      user: spec.user,
      // What `p2 exec` needs to run a command as the run script does (it honours the same file).
      ...(spec.requireFile !== undefined ? { requireFile: spec.requireFile } : {}),
    } satisfies RecordedServiceSpec;
    await atomicWrite(join(dir, SPEC_FILE), `${JSON.stringify(meta, null, 2)}\n`, 0o644);
    if (spec.restartPolicy === 'never') await writeFile(join(dir, 'down'), '');
    else if (!options.keepDown) await rm(join(dir, 'down'), { force: true });
    if (!options.keepDown) await rm(join(dir, 'log', 'down'), { force: true });
    return { logChanged };
  } catch (error) {
    if (error instanceof RunitError) throw error;
    throw new RunitError(
      RunitErrorCodes.WRITE_FAILED,
      `cannot write service ${spec.name} in ${dir}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/**
 * Rewrites an existing service's files; a running log service whose command changed is restarted
 * (TERM; KILL after 5 s), so a new log command takes effect with the new version.
 */
async function updateService(dir: string, spec: ResolvedSpec): Promise<WrittenService> {
  const { logChanged } = await writeServiceFiles(dir, spec, { update: true });
  if (!logChanged || !(await isSupervised(join(dir, 'log'))))
    return { name: spec.name, dir, created: false };
  await restart(dir, { log: true, timeoutMs: 5000, force: true });
  return { name: spec.name, dir, created: false, logRestarted: true };
}

/** A random suffix for temporary names. @internal */
export function randomSuffix(): string {
  return randomBytes(6).toString('hex');
}

/**
 * Writes a service directory under `root` (the directory a runsvdir watches). A new service is
 * assembled in a hidden temp dir (runsvdir skips dot names) and renamed into place, so runsvdir
 * never sees a half-written service; an existing one gets each file replaced atomically and keeps
 * running (restart it to pick up a new `run`).
 *
 * @throws {RunitError} `P2_RUNIT_INVALID_NAME`, `P2_RUNIT_INVALID_SPEC`, `P2_RUNIT_ENTRY_POINT_MISSING`, `P2_RUNIT_WRITE_FAILED`
 * @example
 * ```ts
 * await writeService('/var/service', { name: 'hello__app__launch', entryPoint: '/data/pods/hello/app/current/bin/launch', user: 'hello' });
 * // { name: 'hello__app__launch', dir: '/var/service/hello__app__launch', created: true }
 * ```
 */
export async function writeService(root: string, input: ServiceSpec): Promise<WrittenService> {
  const spec = resolveSpec(input);
  await checkRunnable(spec);
  const dir = join(root, spec.name);
  if (existsSync(dir)) return updateService(dir, spec);
  const tmp = join(root, `.p2-tmp-${spec.name}-${randomSuffix()}`);
  try {
    await mkdir(tmp, { mode: 0o755 });
    await writeServiceFiles(tmp, spec);
    await rename(tmp, dir);
    return { name: spec.name, dir, created: true };
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      // Someone created it meanwhile: update in place.
      return updateService(dir, spec);
    }
    if (error instanceof RunitError) throw error;
    throw new RunitError(
      RunitErrorCodes.WRITE_FAILED,
      `cannot create service ${dir}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/**
 * Stops a service and its log (`sv exit`, SIGKILL after `timeoutMs`) and deletes its directory.
 * The directory is first renamed to a hidden name so a runsvdir cannot restart it meanwhile.
 * A missing service is not an error.
 *
 * @throws {RunitError} `P2_RUNIT_INVALID_NAME`, `P2_RUNIT_TIMEOUT`, `P2_RUNIT_WRITE_FAILED`
 * @example await removeService('/var/service', 'hello__app__launch');
 */
export async function removeService(
  root: string,
  name: string,
  options: { timeoutMs?: number } = {},
): Promise<boolean> {
  assertServiceName(name);
  const dir = join(root, name);
  const trash = join(root, `.p2-trash-${name}-${randomSuffix()}`);
  try {
    await rename(dir, trash);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new RunitError(
      RunitErrorCodes.WRITE_FAILED,
      `cannot remove service ${dir}: ${describeError(error)}`,
      { cause: error },
    );
  }
  await exit(trash, { timeoutMs: options.timeoutMs, force: true });
  await rm(trash, { recursive: true, force: true });
  return true;
}
