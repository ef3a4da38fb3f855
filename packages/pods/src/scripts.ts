/**
 * Runs a launchable's lifecycle scripts (`bin/enable`, `bin/disable`, `bin/post-activate`) as the
 * pod's user with the pod and launchable env dirs and a clean environment (P2's `p2-exec --clearenv`),
 * through `@p2/hooks`' `runProcess`: its own process group, so a timeout kills the script and
 * everything it started.
 *
 * The same privilege boundary as a service's `run` script: a root shell joins the pod's cgroups
 * (so whatever the script leaves behind is killed with the pod), then `setpriv` drops to the pod's
 * user, and only then `chpst -e` loads the env dirs — nothing the pod can influence reaches a
 * process running as root.
 */
import { join } from 'node:path';
import { installDirName } from '@p2/hoist';
import { runProcess } from '@p2/hooks';
import type { Manifest } from '@p2/manifest';
import { renderRunAs } from '@p2/runit';
import type { PodLayout } from './layout.js';
import type { PodLogger } from './types.js';

export interface ScriptResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved, capped at `maxOutputBytes`. */
  output: string;
  timedOut: boolean;
  durationMs: number;
}

export interface RunScriptOptions {
  /** The user the script runs as (its supplementary groups come from the group database). */
  user: string;
  /** The user's primary group id. */
  gid: number;
  /** `cgroup.procs` files the script joins before dropping privileges (from `@p2/cgroups`). @default [] */
  cgroupProcsFiles?: string[];
  /** Env dirs loaded, after the privilege drop, in order (later ones win). */
  envDirs: string[];
  cwd: string;
  timeoutMs: number;
  /** Extra variables set after the env dirs (like p2-exec `--extra-env`). */
  extraEnv?: Record<string, string>;
  /** Time between SIGTERM and SIGKILL once the timeout expired. @default 5000 */
  killGraceMs?: number;
  /** @default 65536 */
  maxOutputBytes?: number;
}

/** The PATH of the root shells that start pod processes (services get the same from runsvdir). @internal */
export const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs one lifecycle script as described above.
 * @example await runScript('/data/pods/hello/app/installs/app_v1/bin/enable', { user: 'hello', gid: 1001, envDirs: [], cwd: '/', timeoutMs: 300_000 })
 */
export async function runScript(script: string, options: RunScriptOptions): Promise<ScriptResult> {
  const max = options.maxOutputBytes ?? 65_536;
  // The same privilege-drop chain as a service's run script (see @p2/runit's renderRunAs).
  const args = [
    '-c',
    renderRunAs({
      user: options.user,
      group: String(options.gid),
      cgroupProcsFiles: options.cgroupProcsFiles ?? [],
      envDirs: options.envDirs,
      extraEnv: options.extraEnv ?? {},
      workingDir: options.cwd,
      command: script,
    }),
  ];
  const outcome = await runProcess('/bin/sh', {
    args,
    cwd: options.cwd,
    env: { PATH: ROOT_PATH },
    timeoutMs: options.timeoutMs,
    killGraceMs: options.killGraceMs ?? 5000,
    outputLimitBytes: max,
  });
  if (outcome.spawnError) {
    return {
      exitCode: 127,
      signal: null,
      output: `could not run ${script}: ${outcome.spawnError.message}`,
      timedOut: false,
      durationMs: outcome.durationMs,
    };
  }
  return {
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    output:
      outcome.outputDroppedBytes > 0
        ? `${outcome.output}\n[output truncated at ${max} bytes]`
        : outcome.output,
    timedOut: outcome.timedOut,
    durationMs: outcome.durationMs,
  };
}

/**
 * The one `cgroup.procs` a lifecycle script joins: the memory hierarchy's on cgroup v1 (the only
 * one on v2). Its memory counts against the pod, and whatever it leaves running is found and
 * killed with the pod's cgroups. Each further hierarchy is another cgroup migration, which during
 * a burst of deploys cost ~35 ms per script (measured: `pnpm bench preparer`, bin/enable p50
 * 34 → 108 ms when joining cpu, memory and pids).
 */
function scriptCgroupProcs(files: readonly string[]): string[] {
  if (files.length <= 1) return [...files];
  const memory = files.find((file) => file.split('/').includes('memory'));
  return [memory ?? (files[0] as string)];
}

/**
 * Runs one of a launchable's lifecycle scripts (`path`, inside its install of the manifest's
 * version) with {@link runScript}: as the pod's user, in the launchable's cgroup, with the pod and
 * launchable env dirs and `ENTRY_POINT`; logs the outcome.
 * @internal
 */
export async function runLifecycleScript(
  logger: PodLogger,
  manifest: Manifest,
  layout: PodLayout,
  launchableId: string,
  path: string,
  run: { timeoutMs: number; user: { name: string; gid: number }; cgroupProcsFiles: string[] },
): Promise<ScriptResult> {
  const installDir = join(
    layout.installsDir(launchableId),
    installDirName(launchableId, manifest.launchableVersion(launchableId)),
  );
  const result = await runScript(path, {
    user: run.user.name,
    gid: run.user.gid,
    cgroupProcsFiles: scriptCgroupProcs(run.cgroupProcsFiles),
    envDirs: [layout.envDir, layout.launchableEnvDir(launchableId)],
    cwd: installDir,
    timeoutMs: run.timeoutMs,
    extraEnv: { ENTRY_POINT: path.slice(installDir.length + 1) },
  });
  logger.info(
    {
      pod: manifest.id,
      launchable: launchableId,
      script: path,
      exitCode: result.exitCode,
      timedOut: result.timedOut,
      ms: result.durationMs,
      output: result.output,
    },
    'launchable script ran',
  );
  return result;
}
