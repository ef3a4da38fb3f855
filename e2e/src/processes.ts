/**
 * Real processes for end-to-end scenarios: the built `p2-kv-server` and `p2-preparer` binaries,
 * started as children with their output kept in a log file (printed when a test fails).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from './artifacts.js';

export interface Proc {
  child: ChildProcess;
  logFile: string;
  log(): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  kill9(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * Spawns `command` with stdout and stderr appended to `logFile` (the environment is this process's
 * plus `env`).
 */
export function spawnLogged(
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = {},
): Proc {
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    logFile,
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Runs a Node script (`argv[0]`) with its output in `logFile`. */
function startProcess(argv: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Proc {
  return spawnLogged(process.execPath, argv, logFile, env);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
  );
}

/** Starts `p2-kv-server` (the built binary) and waits until it answers. */
export async function startKvServerProcess(
  dataDir: string,
  port: number,
  logDir: string,
): Promise<Proc & { url: string }> {
  const proc = startProcess(
    [
      join(repoRoot, 'packages/kv-server/dist/cli.js'),
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--session-ttl-min',
      '1s',
    ],
    join(logDir, 'kv-server.log'),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'p2-kv-server to answer',
    async () => (await fetch(`${url}/v1/kv/?keys`).catch(() => undefined))?.status !== undefined,
    20_000,
  );
  return { ...proc, url };
}

/** Starts `p2-preparer` (the built binary) with a config file. */
export function startPreparerProcess(configPath: string, logDir: string, name = 'preparer'): Proc {
  return startProcess(
    [join(repoRoot, 'apps/preparer/dist/cli.js'), '--config', configPath],
    join(logDir, `${name}.log`),
  );
}
