/**
 * The privilege-drop chain every process p2 starts for a pod goes through — its runit services, its
 * lifecycle scripts and `p2 exec` — written once (SECURITY.md: privileges drop before a pod's env
 * is loaded).
 *
 * As root, a POSIX shell joins the cgroup, checks the require file, lifts the open-files limit and
 * changes directory; then it execs `[setsid] setpriv` (uid, gid, initgroups) and only then, as the
 * pod's user, `chpst -e` once per env dir (later wins) and `env` (extra variables; the command found
 * on the PATH the env dirs set) into the command. Every step execs the next, so the shell's pid
 * becomes the command's and the cgroup it joined is the command's.
 */
import { isAbsolute } from 'node:path';
import { RunitError, RunitErrorCodes } from './errors.js';

/** How a command is run as a pod's user (see the module comment for the order). */
export interface RunAsSpec {
  /** User the command runs as; its supplementary groups come from the group database (initgroups). */
  user: string;
  /** Primary group (name or gid). @default the user's primary group, looked up when the script runs */
  group?: string;
  /** Env dirs loaded after the privilege drop, in order (later ones win). @default [] */
  envDirs?: string[];
  /** Variables set after the env dirs (P2's `--extra-env`, e.g. `ENTRY_POINT`). @default {} */
  extraEnv?: Record<string, string>;
  /** Directory changed into (as root, before the drop). @default '/' */
  workingDir?: string;
  /** `cgroup.procs` files the shell writes its pid to before the drop. @default [] */
  cgroupProcsFiles?: string[];
  /** Refuse to run unless this file exists (P2's `require_file`). */
  requireFile?: string;
  /** Raise the open-files limit to `/proc/sys/fs/nr_open` (p2-exec `-n`). @default false */
  liftFileLimit?: boolean;
  /** Start a new session (`setsid`): the command leads its own process group, without a terminal. @default false */
  newSession?: boolean;
  /**
   * The command: an absolute path, or a name found on the PATH of the pod's environment (looked up
   * by `env` as the pod's user, after the env dirs are loaded).
   */
  command: string;
  /** Its arguments. @default [] */
  args?: string[];
}

/**
 * Quotes a value for POSIX sh (single quotes unless it is plainly safe).
 * @example shellQuote("it's") // 'it'\\''s'
 */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const q = shellQuote;
const USER = /^[a-z_][a-z0-9_-]*$|^[0-9]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function invalidSpec(what: string, message: string, field: string): never {
  throw new RunitError(RunitErrorCodes.INVALID_SPEC, `${what}: ${message}`, {
    details: { what, field },
  });
}

/**
 * Checks the parts of a {@link RunAsSpec} that go into paths and names; `what` names the thing in
 * the message (`service hello__app__launch`). @internal
 * @throws RunitError `P2_RUNIT_INVALID_SPEC`
 */
export function assertRunAs(what: string, spec: Omit<RunAsSpec, 'command'>): void {
  const invalid = (message: string, field: string) => invalidSpec(what, message, field);
  for (const [field, value] of [
    ['user', spec.user],
    ['group', spec.group],
  ] as const)
    if (value !== undefined && !USER.test(value))
      invalid(`${field} ${JSON.stringify(value)} is not a user or group name`, field);
  for (const dir of spec.envDirs ?? [])
    if (!isAbsolute(dir)) invalid(`env dir ${JSON.stringify(dir)} must be absolute`, 'envDirs');
  for (const name of Object.keys(spec.extraEnv ?? {}))
    if (!ENV_NAME.test(name)) invalid(`${JSON.stringify(name)} is not a variable name`, 'extraEnv');
  for (const file of spec.cgroupProcsFiles ?? [])
    if (!isAbsolute(file) || !file.endsWith('/cgroup.procs'))
      invalid(`${JSON.stringify(file)} is not a cgroup.procs path`, 'cgroupProcsFiles');
  if (spec.workingDir !== undefined && !isAbsolute(spec.workingDir))
    invalid('working dir must be absolute', 'workingDir');
  if (spec.requireFile !== undefined && !isAbsolute(spec.requireFile))
    invalid('require file must be absolute', 'requireFile');
}

/**
 * The POSIX sh script (no shebang) that runs `spec.command` as described in the module comment:
 * for a runit `run` script, `sh -c` (lifecycle scripts) or `p2 exec`. A step that fails before the
 * command runs exits 111 with a `p2: …` line on stderr.
 *
 * @throws RunitError `P2_RUNIT_INVALID_SPEC`
 * @example
 * ```ts
 * spawn('/bin/sh', ['-c', renderRunAs({ user: 'hello', envDirs: ['/data/pods/hello/env'], command: 'id' })]);
 * ```
 */
export function renderRunAs(spec: RunAsSpec): string {
  const what = `running ${JSON.stringify(spec.command)}`;
  assertRunAs(what, spec);
  // A bare name goes through `env`, which would take `A=B` for a variable and `-x` for an option.
  if (!spec.command.includes('/') && !/^[^=-][^=]*$/.test(spec.command))
    invalidSpec(
      what,
      'a command without a "/" must not be empty, start with "-" or hold "="',
      'command',
    );
  const lines: string[] = [];
  for (const file of spec.cgroupProcsFiles ?? [])
    lines.push(`echo $$ > ${q(file)} || { echo "p2: cannot join cgroup ${file}" >&2; exit 111; }`);
  if (spec.requireFile !== undefined)
    lines.push(
      `[ -e ${q(spec.requireFile)} ] || { echo "p2: require file ${spec.requireFile} not present" >&2; exit 111; }`,
    );
  if (spec.liftFileLimit) lines.push('ulimit -n "$(cat /proc/sys/fs/nr_open)" 2>/dev/null || true');
  // Resolved at every start, like initgroups: group changes apply on the next restart.
  if (spec.group === undefined)
    lines.push(
      `gid="$(id -g -- ${q(spec.user)})" || { echo "p2: user ${spec.user} does not exist" >&2; exit 111; }`,
    );
  lines.push(`cd ${q(spec.workingDir ?? '/')} || exit 111`);
  const argv: string[] = [];
  // A process that is not a group leader (runsv's child) setsids in place: no fork, same pid.
  if (spec.newSession) argv.push('setsid');
  argv.push(
    'setpriv',
    q(`--reuid=${spec.user}`),
    spec.group === undefined ? '"--regid=$gid"' : q(`--regid=${spec.group}`),
    '--init-groups',
    '--',
  );
  // From here on everything runs as the user: the env dirs are read without privileges. chpst and
  // env are found on the shell's PATH (root's), never on one the pod's env dirs set.
  for (const dir of spec.envDirs ?? []) argv.push('chpst', '-e', q(dir));
  const extra = Object.entries(spec.extraEnv ?? {});
  // `env` also finds a bare command on the PATH the env dirs set (chpst would use root's).
  if (extra.length > 0 || !spec.command.includes('/'))
    argv.push('env', ...extra.map(([k, v]) => q(`${k}=${v}`)));
  argv.push(q(spec.command), ...(spec.args ?? []).map(q));
  lines.push(`exec ${argv.join(' ')}`);
  return lines.join('\n');
}
