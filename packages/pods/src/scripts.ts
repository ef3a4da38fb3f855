/**
 * Runs a launchable's lifecycle scripts (`bin/enable`, `bin/disable`, `bin/post-activate`) as the
 * pod's user with the pod and launchable env dirs and a clean environment (P2's `p2-exec --clearenv`),
 * through `@p2/hooks`' `runProcess`: its own process group, so a timeout kills the script and
 * everything it started.
 */
import { runProcess } from '@p2/hooks';

export interface ScriptResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved, capped at `maxOutputBytes`. */
  output: string;
  timedOut: boolean;
  durationMs: number;
}

export interface RunScriptOptions {
  user: string;
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

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function runScript(script: string, options: RunScriptOptions): Promise<ScriptResult> {
  const max = options.maxOutputBytes ?? 65_536;
  // chpst applies one env dir per invocation, so chain them (later dirs win), then drop privileges.
  const envDirs = options.envDirs.flatMap((dir, i) =>
    i === 0 ? ['-e', dir] : ['chpst', '-e', dir],
  );
  const extra = Object.entries(options.extraEnv ?? {}).map(([k, v]) => `${k}=${v}`);
  const args = [
    ...(envDirs.length > 0 ? [...envDirs, 'chpst'] : []),
    '-u',
    options.user,
    ...(extra.length > 0 ? ['env', ...extra] : []),
    script,
  ];
  const outcome = await runProcess('chpst', {
    args,
    cwd: options.cwd,
    env: { PATH },
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
