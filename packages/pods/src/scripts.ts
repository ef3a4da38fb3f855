/**
 * Runs a launchable's lifecycle scripts (`bin/enable`, `bin/disable`, `bin/post-activate`) as the
 * pod's user with the pod and launchable env dirs and a clean environment (P2's `p2-exec --clearenv`),
 * in their own process group so a timeout kills the script and everything it started.
 */
import { spawn } from 'node:child_process';

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

export function runScript(script: string, options: RunScriptOptions): Promise<ScriptResult> {
  const started = Date.now();
  const max = options.maxOutputBytes ?? 65_536;
  // chpst applies one env dir per invocation, so chain them (later dirs win), then drop privileges.
  const envDirs = options.envDirs.flatMap((dir, i) =>
    i === 0 ? ['-e', dir] : ['chpst', '-e', dir],
  );
  const extra = Object.entries(options.extraEnv ?? {}).map(([k, v]) => `${k}=${v}`);
  const argv = [
    ...(envDirs.length > 0 ? [...envDirs, 'chpst'] : []),
    '-u',
    options.user,
    ...(extra.length > 0 ? ['env', ...extra] : []),
    script,
  ];
  return new Promise((resolve) => {
    const child = spawn('chpst', argv, {
      cwd: options.cwd,
      env: { PATH },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let truncated = false;
    const collect = (chunk: Buffer) => {
      if (output.length >= max) {
        truncated = true;
        return;
      }
      output += chunk.toString('utf8').slice(0, max - output.length);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      const group = -(child.pid ?? 0);
      try {
        process.kill(group, 'SIGTERM');
      } catch {}
      killTimer = setTimeout(() => {
        try {
          process.kill(group, 'SIGKILL');
        } catch {}
      }, options.killGraceMs ?? 5000);
    }, options.timeoutMs);
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (timedOut && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }
      resolve({
        exitCode,
        signal,
        output: truncated ? `${output}\n[output truncated at ${max} bytes]` : output,
        timedOut,
        durationMs: Date.now() - started,
      });
    };
    child.on('error', (error) => {
      output += `could not run ${script}: ${error.message}`;
      finish(127, null);
    });
    child.on('close', finish);
  });
}
