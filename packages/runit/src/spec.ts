import { isAbsolute } from 'node:path';
import { RunitError, RunitErrorCodes } from './errors.js';
import { assertServiceName } from './names.js';
import { assertRunAs } from './run-as.js';

/** What runit does when the process exits. */
export type RestartPolicy = 'always' | 'never';

/** A service's `log/` service: svlogd, or a log command of the host's (P2's `log_exec`). */
export interface LogSpec {
  /** Rotate `current` when it reaches this many bytes (svlogd `s`; at least 2048). @default 10485760 (10 MiB) */
  maxFileBytes?: number;
  /** Rotated files to keep (svlogd `n`). @default 10 */
  maxFiles?: number;
  /** User the log command (svlogd or `command`) runs as; owns `log/main`. Never root. @default 'nobody' */
  user?: string;
  /**
   * A log command in place of svlogd (P2's `log_exec`): run inside `log/` as `user`, with the
   * service's output on its stdin and nothing of the supervisor's environment, only `env` and a
   * fixed `PATH`. `log/main` (with `maxFileBytes`/`maxFiles` in its `config`) is still made, the
   * log user's, for a command that ends in svlogd.
   */
  command?: string[];
  /** Environment of `command` besides `PATH` (e.g. which pod the output is from). @default {} */
  env?: Record<string, string>;
}

/**
 * A command run after each exit of the service, once the exit is recorded: as `user` (never root),
 * runit's two finish arguments (exit code, or -1 when killed; wait status) as `P2_EXIT_CODE` and
 * `P2_EXIT_STATUS`, and only those, `env` and a fixed `PATH` in its environment, and killed after `timeoutMs` — runsv starts the service again only
 * once `finish` is done.
 */
export interface FinishSpec {
  command: string[];
  /** @default 'nobody' */
  user?: string;
  /** Environment besides `PATH`. @default {} */
  env?: Record<string, string>;
  /** @default 10000 */
  timeoutMs?: number;
}

/** Who a service belongs to; recorded with each exit. */
export interface ServiceIdentity {
  podId: string;
  /** Set for uuid pods; legacy pods have none. */
  podUniqueKey?: string;
  launchableId: string;
  /** Entry point relative to the launchable (`ENTRY_POINT`). */
  entryPoint: string;
}

/** Everything needed to write one runit service (one entry point of a launchable). */
export interface ServiceSpec {
  /** Service directory name, usually from {@link serviceName}. */
  name: string;
  /** Absolute path of the executable to run (e.g. `<install dir>/bin/launch`). */
  entryPoint: string;
  /** Extra arguments for the entry point. @default [] */
  args?: string[];
  /** `ENTRY_POINT` value: the entry point relative to the launchable (P2 sets it for hoist). */
  entryPointEnv?: string;
  /** User the process runs as; its supplementary groups come from the group database (initgroups). */
  user: string;
  /** Primary group. @default the user's primary group */
  group?: string;
  /** Env dirs loaded in order, later ones win (pod env dir, then launchable env dir). @default [] */
  envDirs?: string[];
  /** Working directory. @default the entry point's launchable root is not known, so '/' */
  workingDir?: string;
  /** `cgroup.procs` files the run script writes its pid to before dropping privileges (from `@p2/cgroups`). @default [] */
  cgroupProcsFiles?: string[];
  /** `always`: runit restarts the process; `never`: a `down` file, started with `once`. @default 'always' */
  restartPolicy?: RestartPolicy;
  /** Default timeout of stop/restart for this service (P2's `restart_timeout`). @default 60000 */
  restartTimeoutMs?: number;
  /** Refuse to start unless this file exists (P2's `require_file`). */
  requireFile?: string;
  /** Raise the open-files limit to `/proc/sys/fs/nr_open` like p2-exec `-n`. @default true */
  liftFileLimit?: boolean;
  /**
   * Give the app its own process group (as p2-exec's `setpgid`) and, after it exits, TERM — then,
   * after 1 s, KILL — whatever is left in that group, so children of an old instance never outlive
   * it and race its restart. Processes that daemonise into their own session escape this; the
   * launchable's cgroup still holds them. @default true
   */
  killProcessGroup?: boolean;
  /** Run after each exit is recorded (e.g. an exit reporter; P2's `finish_exec`). */
  finish?: FinishSpec;
  /**
   * An existing service keeps the log command and finish command it has (`log/run`,
   * `p2-finish`); a new one gets svlogd and none. For tools that update a service without knowing
   * the host's settings (`p2 restart`), so they never undo the preparer's `log_exec`. @default false
   */
  keepHelpers?: boolean;
  /** Constant fields copied into every exit record, so a reporter knows whose exit it is (spec 02 §1.12). */
  identity?: ServiceIdentity;
  /** Logging. @default {} */
  log?: LogSpec;
}

/** {@link ServiceSpec} with defaults filled in. @internal */
export type ResolvedSpec = Required<
  Omit<ServiceSpec, 'group' | 'requireFile' | 'finish' | 'entryPointEnv' | 'identity' | 'log'>
> &
  Pick<ServiceSpec, 'group' | 'requireFile' | 'entryPointEnv' | 'identity'> & {
    log: Required<Omit<LogSpec, 'command'>> & Pick<LogSpec, 'command'>;
    finish?: Required<FinishSpec>;
  };

const USER = /^[a-z_][a-z0-9_-]*$|^[0-9]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Users a helper (log or finish command) may never run as: it reads what a pod wrote. */
const ROOT = /^(root|0+)$/;

/** Checks a helper command's argv, user and environment. */
function checkHelper(
  name: string,
  field: 'log' | 'finish',
  helper: { command?: string[]; user?: string; env?: Record<string, string> },
): void {
  const { command, user, env } = helper;
  if (command !== undefined) {
    if (
      command.length === 0 ||
      command.some((arg) => typeof arg !== 'string' || arg.includes('\0'))
    )
      invalid(name, `${field}.command must be a non-empty list of strings`, `${field}.command`);
    // `env` would take a first word with `=` for one more variable.
    if ((command[0] as string).includes('=') || (command[0] as string) === '')
      invalid(
        name,
        `${field}.command ${JSON.stringify(command[0])} is not a program`,
        `${field}.command`,
      );
  }
  if (user !== undefined && ROOT.test(user))
    invalid(
      name,
      `${field}.user must not be root: it reads what the service wrote`,
      `${field}.user`,
    );
  for (const [key, value] of Object.entries(env ?? {}))
    if (!ENV_NAME.test(key) || key === 'PATH' || value.includes('\0'))
      invalid(name, `${field}.env has an invalid variable ${JSON.stringify(key)}`, `${field}.env`);
}

function invalid(name: string, message: string, field: string): never {
  throw new RunitError(RunitErrorCodes.INVALID_SPEC, `service ${name}: ${message}`, {
    details: { service: name, field },
  });
}

/**
 * Checks a spec and fills in defaults.
 *
 * @throws {RunitError} `P2_RUNIT_INVALID_NAME`, `P2_RUNIT_INVALID_SPEC`
 * @internal
 */
export function resolveSpec(spec: ServiceSpec): ResolvedSpec {
  assertServiceName(spec.name);
  const name = spec.name;
  if (!isAbsolute(spec.entryPoint))
    invalid(
      name,
      `entry point ${JSON.stringify(spec.entryPoint)} must be an absolute path`,
      'entryPoint',
    );
  assertRunAs(`service ${name}`, spec);
  for (const [field, value] of [
    ['log.user', spec.log?.user],
    ['finish.user', spec.finish?.user],
  ] as const)
    if (value !== undefined && !USER.test(value))
      invalid(name, `${field} ${JSON.stringify(value)} is not a user or group name`, field);
  if (
    spec.restartPolicy !== undefined &&
    spec.restartPolicy !== 'always' &&
    spec.restartPolicy !== 'never'
  )
    invalid(
      name,
      `restart policy ${JSON.stringify(spec.restartPolicy)} is not "always" or "never"`,
      'restartPolicy',
    );
  const maxFileBytes = spec.log?.maxFileBytes ?? 10 * 2 ** 20;
  const maxFiles = spec.log?.maxFiles ?? 10;
  if (!Number.isInteger(maxFileBytes) || maxFileBytes < 2048)
    invalid(
      name,
      'log.maxFileBytes must be an integer >= 2048 (svlogd minimum)',
      'log.maxFileBytes',
    );
  if (!Number.isInteger(maxFiles) || maxFiles < 1)
    invalid(name, 'log.maxFiles must be a positive integer', 'log.maxFiles');
  checkHelper(name, 'log', spec.log ?? {});
  if (spec.finish !== undefined) checkHelper(name, 'finish', spec.finish);
  const finishTimeoutMs = spec.finish?.timeoutMs ?? 10_000;
  if (!Number.isInteger(finishTimeoutMs) || finishTimeoutMs < 1)
    invalid(name, 'finish.timeoutMs must be a positive integer', 'finish.timeoutMs');
  const restartTimeoutMs = spec.restartTimeoutMs ?? 60_000;
  if (!(restartTimeoutMs >= 0)) invalid(name, 'restartTimeoutMs must be >= 0', 'restartTimeoutMs');
  return {
    name,
    entryPoint: spec.entryPoint,
    args: spec.args ?? [],
    entryPointEnv: spec.entryPointEnv,
    user: spec.user,
    group: spec.group,
    envDirs: spec.envDirs ?? [],
    workingDir: spec.workingDir ?? '/',
    cgroupProcsFiles: spec.cgroupProcsFiles ?? [],
    restartPolicy: spec.restartPolicy ?? 'always',
    restartTimeoutMs,
    requireFile: spec.requireFile,
    liftFileLimit: spec.liftFileLimit ?? true,
    killProcessGroup: spec.killProcessGroup ?? true,
    keepHelpers: spec.keepHelpers ?? false,
    identity: spec.identity,
    log: {
      maxFileBytes,
      maxFiles,
      user: spec.log?.user ?? 'nobody',
      command: spec.log?.command,
      env: spec.log?.env ?? {},
    },
    ...(spec.finish
      ? {
          finish: {
            command: spec.finish.command,
            user: spec.finish.user ?? 'nobody',
            env: spec.finish.env ?? {},
            timeoutMs: finishTimeoutMs,
          },
        }
      : {}),
  };
}
