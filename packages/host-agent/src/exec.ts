/**
 * Running a command inside an installed pod on this host (P2's p2-exec, as `p2 exec`): the pod's
 * `PodHost.execPlan` — its user, cgroup, install directory, limits and env dirs, loaded after the
 * privilege drop by the run script's own chain — spawned with the caller's stdin, stdout and stderr.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { ExecPlan } from '@p2/pods';
import { type ControlPodOptions, installedManifest, localHost } from './control.js';
import { HostAgentError, HostAgentErrorCode } from './errors.js';

/** Which pod, which launchable, what to run, and the host's run_as policy. */
export interface ExecInPodOptions extends ControlPodOptions {
  /** The launchable whose environment is used. @default the pod's only launchable */
  launchableId?: string;
  /** The command and its arguments (a name without `/` is found on the pod's PATH). */
  command: readonly string[];
  /** The host's run_as policy, as `p2 launch` and the preparer apply it. @default 1000 */
  runAsMinUid?: number;
  /** Accounts this pod may run as although the run_as policy refuses them (e.g. `root`). @default [] */
  allowRunAs?: readonly string[];
  /** The command's stdin, stdout and stderr. @default 'inherit' */
  stdio?: StdioOptions;
  /** `TERM` for the command (the only variable of the caller's it gets). */
  term?: string;
  /** Called once the command runs, e.g. to write to its stdin when `stdio` pipes it. */
  onSpawn?: (child: ChildProcess, plan: ExecPlan) => void;
}

/** How the command ended. */
export interface ExecOutcome {
  pod: string;
  launchableId: string;
  /** Its exit code, or null when a signal ended it. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** What a shell reports: the exit code, or 128 + the signal's number. */
  status: number;
}

/** Signals a terminal sends to its whole foreground process group, the command included. */
const FROM_TERMINAL: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];
/** Signals sent to this process alone, passed on to the command. */
const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];

/**
 * Runs a command in an installed pod as its services run (see `PodHost.execPlan`) and waits for
 * it. While it runs, SIGTERM and SIGHUP are passed on to it, and SIGINT and SIGQUIT (which a
 * terminal sends to the command too) are left to it.
 *
 * @throws HostAgentError `P2_HOST_EXEC_NOT_ROOT` (privileges are dropped from root),
 *   `P2_HOST_POD_NOT_INSTALLED`; PodError `P2_PODS_NO_SUCH_LAUNCHABLE`, `P2_PODS_RUN_AS_REFUSED`,
 *   `P2_PODS_NOT_INSTALLED`, `P2_PODS_REQUIRE_FILE_MISSING`, `P2_PODS_UNTRUSTED_PATH`
 * @example
 * ```ts
 * const { status } = await execInPod('hello', {
 *   nodeName: 'h1', podRoot: '/data/pods', serviceRoot: '/var/service', command: ['id', '-u'],
 * });
 * process.exitCode = status;
 * ```
 */
export async function execInPod(podId: string, options: ExecInPodOptions): Promise<ExecOutcome> {
  if (process.getuid?.() !== 0)
    throw new HostAgentError(
      HostAgentErrorCode.EXEC_NOT_ROOT,
      `running a command in pod ${podId} needs root: it joins the pod's cgroup and becomes its user`,
      { hint: 'run it with sudo' },
    );
  const host = await localHost(options, {
    supervise: false,
    runAs: {
      minUid: options.runAsMinUid ?? 1000,
      allow: { [podId]: [...(options.allowRunAs ?? [])] },
    },
  });
  const uniqueKey = options.uniqueKey ?? '';
  const manifest = await installedManifest(host, podId, uniqueKey);
  const plan = await host.execPlan(manifest, {
    uniqueKey,
    command: options.command,
    ...(options.launchableId !== undefined ? { launchableId: options.launchableId } : {}),
  });
  const child = spawn(plan.file, plan.args, {
    cwd: '/',
    env: { ...plan.env, ...(options.term ? { TERM: options.term } : {}) },
    stdio: options.stdio ?? 'inherit',
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const leave = () => undefined;
  for (const signal of FORWARDED) process.on(signal, forward);
  for (const signal of FROM_TERMINAL) process.on(signal, leave);
  try {
    options.onSpawn?.(child, plan);
    const { code, signal } = await new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
    }>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    return {
      pod: podId,
      launchableId: plan.launchableId,
      exitCode: code,
      signal,
      status: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0),
    };
  } finally {
    for (const signal of FORWARDED) process.off(signal, forward);
    for (const signal of FROM_TERMINAL) process.off(signal, leave);
  }
}
