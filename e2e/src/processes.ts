/**
 * Real processes for end-to-end scenarios: the built `p2-kv-server` and `p2-preparer` binaries,
 * started as children with their output kept in a log file (printed when a test fails).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PREPARER_NODE_ENV, PREPARER_NODE_FLAGS } from '@p2/host-agent';
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

/** HTTPS and an ACL token for {@link startKvServerProcess}. */
export interface KvServerSecurity {
  /** PEM files: the server's certificate and key, and the CA that signed it (for the probe). */
  tls?: { cert: string; key: string; ca: string };
  /** The ACL token every request must carry. */
  aclToken?: string;
}

/** The HTTP status of a GET over HTTPS, trusting only `ca` (PEM); undefined when it fails. */
function httpsStatus(url: string, ca: Buffer): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = httpsGet(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
  });
}

/**
 * Starts `p2-kv-server` (the built binary) and waits until it answers; with `security`, it serves
 * HTTPS and requires the ACL token.
 */
export async function startKvServerProcess(
  dataDir: string,
  port: number,
  logDir: string,
  security: KvServerSecurity = {},
): Promise<Proc & { url: string }> {
  const { tls, aclToken } = security;
  const proc = startProcess(
    [
      join(repoRoot, 'packages/kv-server/dist/cli.js'),
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--session-ttl-min',
      '1s',
      ...(tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : []),
    ],
    join(logDir, 'kv-server.log'),
    aclToken === undefined ? {} : { P2_KV_ACL_TOKEN: aclToken },
  );
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const ca = tls ? await readFile(tls.ca) : undefined;
  await waitFor(
    'p2-kv-server to answer',
    async () =>
      (ca
        ? await httpsStatus(`${url}/v1/kv/?keys`, ca)
        : (await fetch(`${url}/v1/kv/?keys`).catch(() => undefined))?.status) !== undefined,
    20_000,
  );
  return { ...proc, url };
}

/** Starts `p2-preparer` (the built binary) with a config file (and extra environment). */
export function startPreparerProcess(
  configPath: string,
  logDir: string,
  name = 'preparer',
  env: NodeJS.ProcessEnv = {},
): Proc {
  // As the preparer's bin/launch runs it: its node flags and environment.
  const launchEnv = Object.fromEntries(PREPARER_NODE_ENV.map((v) => v.split('=', 2)));
  return startProcess(
    [...PREPARER_NODE_FLAGS, join(repoRoot, 'apps/preparer/dist/cli.js'), '--config', configPath],
    join(logDir, `${name}.log`),
    { ...launchEnv, ...env },
  );
}
