/**
 * P2's entry points as a script runs them: the built `apps/compat` binaries (`p2-schedule`,
 * `p2-rm`, `p2-inspect`, `p2-label`, `p2-launch`) as child processes, with standard input given
 * (and then closed) and the exit code, stdout and stderr kept apart.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './artifacts.js';

export interface CompatRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `apps/compat/dist/<binary>.js` with `args`; stdin gets `input` and is closed (no TTY). */
export function runCompatBinary(
  binary: 'p2-schedule' | 'p2-rm' | 'p2-inspect' | 'p2-label' | 'p2-launch',
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CompatRun> {
  // No store or token from the caller's environment: each test names its own.
  const { P2_STORE: _store, CONSUL_HTTP_TOKEN: _token, ...env } = process.env;
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'apps/compat/dist', `${binary}.js`), ...args],
    {
      env: { ...env, ...options.env },
      cwd: options.cwd ?? repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
