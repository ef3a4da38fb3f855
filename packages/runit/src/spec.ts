import { isAbsolute } from 'node:path';
import { RunitError, RunitErrorCodes } from './errors.js';
import { assertServiceName } from './names.js';
import { assertRunAs } from './run-as.js';

/** What runit does when the process exits. */
export type RestartPolicy = 'always' | 'never';

/** svlogd settings for a service's `log/` service. */
export interface LogSpec {
  /** Rotate `current` when it reaches this many bytes (svlogd `s`; at least 2048). @default 10485760 (10 MiB) */
  maxFileBytes?: number;
  /** Rotated files to keep (svlogd `n`). @default 10 */
  maxFiles?: number;
  /** User svlogd runs as; owns `log/main`. @default 'nobody' */
  user?: string;
  /** Replace the whole logger command (argv run inside `log/`); `maxFileBytes`/`maxFiles` still go to `main/config`. */
  command?: string[];
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
  /** Run after each exit is recorded, with runit's two finish arguments appended (e.g. an exit reporter). */
  finishCommand?: string[];
  /** Constant fields copied into every exit record, so a reporter knows whose exit it is (spec 02 §1.12). */
  identity?: ServiceIdentity;
  /** Logging. @default {} */
  log?: LogSpec;
}

/** {@link ServiceSpec} with defaults filled in. @internal */
export type ResolvedSpec = Required<
  Omit<
    ServiceSpec,
    'group' | 'requireFile' | 'finishCommand' | 'entryPointEnv' | 'identity' | 'log'
  >
> &
  Pick<ServiceSpec, 'group' | 'requireFile' | 'finishCommand' | 'entryPointEnv' | 'identity'> & {
    log: Required<Omit<LogSpec, 'command'>> & Pick<LogSpec, 'command'>;
  };

const USER = /^[a-z_][a-z0-9_-]*$|^[0-9]+$/;

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
  if (spec.log?.user !== undefined && !USER.test(spec.log.user))
    invalid(
      name,
      `log.user ${JSON.stringify(spec.log.user)} is not a user or group name`,
      'log.user',
    );
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
    finishCommand: spec.finishCommand,
    identity: spec.identity,
    log: { maxFileBytes, maxFiles, user: spec.log?.user ?? 'nobody', command: spec.log?.command },
  };
}
