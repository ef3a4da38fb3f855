/**
 * p2-controllers against a store that denies anything without its ACL token: farms run with the
 * token; without it the binary stops at start with the explanation and exit 5.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkStoreAccess } from '@p2/controller-farms';
import { LabelStore } from '@p2/keyspace';
import { createStore, findStoreToken, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestCertificates } from '../../../packages/kv/src/test-support.js';
import { startControllers } from './main.js';

const TOKEN = 'p2t-controllers-0123456789abcdef';
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
let dir: string;
let server: KvServer;
let store: Store;
let url: string;
let tokenFile: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-controllers-token-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0, aclToken: TOKEN });
  url = `consul://127.0.0.1:${server.port}`;
  store = createStore(url, { token: TOKEN });
  tokenFile = join(dir, 'consul.token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
});
/** Every child started, killed after each test even when it failed (a timed-out test left one). */
const children = new Set<ChildProcess>();

afterEach(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  children.clear();
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI through tsx with only `env`; resolves with its exit code and output. */
function controllers(
  env: NodeJS.ProcessEnv,
  untilStarted: boolean | string = false,
  args = ['--store', url],
) {
  let until = untilStarted === true ? 'controllers started' : untilStarted;
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', cli, ...args, '--resync-ms', '500'],
    { cwd: repoRoot, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
    if (until !== false && stdout.includes(until)) {
      until = false;
      child.kill('SIGTERM');
      // A run whose farms keep failing (a refused store) may sit in a retry back-off when told to
      // stop; past 20 s it is killed (exit code null), so the test reports it instead of timing out.
      setTimeout(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      }, 20_000).unref();
    }
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('the store token', () => {
  it('farms run with the token', async () => {
    await new LabelStore(store).setLabels('node', 'p2t-n1', { role: 'web' });
    await new RcStore(store).create({
      manifest: parseManifest(
        'id: p2t-web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/p2t-web_1.tar.gz\n',
      ),
      nodeSelector: 'role=web',
      replicasDesired: 1,
    });
    const found = await findStoreToken({ env: { P2_TOKEN_FILE: tokenFile } });
    expect(found).toMatchObject({ token: TOKEN, source: 'file' });
    const running = startControllers({ store: url, token: found.token, resyncMs: 500 });
    try {
      await checkStoreAccess(running.store, found);
      const deadline = Date.now() + 10_000;
      while ((await store.get('intent/p2t-n1/p2t-web')).value === undefined) {
        if (Date.now() > deadline) throw new Error('no intent written');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await running.stop();
    }
  });

  it('the binary without a token exits 5 with the hint; with P2_TOKEN_FILE it starts and stops cleanly', async () => {
    const denied = await controllers({ P2_TOKEN_FILE: join(dir, 'absent') });
    expect(denied.code).toBe(5);
    expect(denied.stderr).toContain('the store refused the request: no token was sent');
    expect(denied.stderr).toContain(
      'hint: run as root so p2 finds /etc/p2/consul.token, or pass --token / CONSUL_HTTP_TOKEN',
    );
    const started = await controllers({ P2_TOKEN_FILE: tokenFile }, true);
    expect(started.code).toBe(0);
    expect(started.stdout).toContain('controllers stopped');
    // Without --store: Consul's CONSUL_HTTP_ADDR (http://host:port, as Consul spells it) names it.
    const consulAddr = await controllers(
      { P2_TOKEN_FILE: tokenFile, CONSUL_HTTP_ADDR: `http://127.0.0.1:${server.port}` },
      true,
      [],
    );
    expect(consulAddr.code, consulAddr.stderr).toBe(0);
    expect(consulAddr.stdout).toContain('controllers stopped');
    const none = await controllers({ P2_TOKEN_FILE: tokenFile }, false, []);
    expect(none.stderr).toContain('CONSUL_HTTP_ADDR');
  });
});

describe('--sign-key (delegated signing)', () => {
  it('refuses a key file others may read, and signs with a private one', async () => {
    const key = join(repoRoot, 'fixtures/p2/keys/p2universe-secring.gpg');
    const open = join(dir, 'open.gpg');
    await writeFile(open, readFileSync(key), { mode: 0o644 });
    const refused = await controllers({ P2_TOKEN_FILE: tokenFile }, false, [
      '--store',
      url,
      '--sign-key',
      open,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`secret key file ${open} has mode 0644`);
    const priv = join(dir, 'private.gpg');
    await writeFile(priv, readFileSync(key), { mode: 0o600 });
    const started = await controllers({ P2_TOKEN_FILE: tokenFile }, true, [
      '--store',
      url,
      '--sign-key',
      priv,
    ]);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toContain('"key":"6BB5F1D619EA715E36368B23B3A3F402DE19D5FA"');
    expect(started.stdout).toContain('signing intent (delegated)');
  }, 60_000);
});

describe('a store that requires a client certificate (p2-kv-server with tls.clientCa)', () => {
  it('the binary starts with --ca-file, --cert-file, --key-file and --token-file, and is refused without the certificate', async () => {
    makeTestCertificates(dir, { client: true });
    const pem = (name: string) => readFileSync(join(dir, name));
    const mtls = await startKvServer({
      dataDir: join(dir, 'kv-mtls'),
      port: 0,
      aclToken: TOKEN,
      tls: { cert: pem('srv.pem'), key: pem('srv.key'), clientCa: pem('ca.pem') },
    });
    try {
      const store = ['--store', `consul+https://127.0.0.1:${mtls.port}`];
      const ca = ['--ca-file', join(dir, 'ca.pem'), '--token-file', tokenFile];
      const cert = ['--cert-file', join(dir, 'cli.pem'), '--key-file', join(dir, 'cli.key')];
      const started = await controllers({}, true, [
        ...store,
        ...ca,
        ...cert,
        '--header',
        'X-P2t: 1',
      ]);
      expect(started.code, started.stderr).toBe(0);
      expect(started.stdout).toContain('controllers stopped');
      // Without the certificate the store refuses every request; the farms keep retrying (the
      // store may be fixed while they run) and say why.
      const refused = await controllers({}, 'certificate required', [...store, ...ca]);
      expect(refused.stdout).toContain('alert certificate required');
      expect(refused.stdout).toContain('the store requires a client certificate it trusts');
      const tokenHeader = await controllers({}, false, [
        ...store,
        ...ca,
        ...cert,
        '--header',
        `X-Consul-Token: ${TOKEN}`,
      ]);
      expect(tokenHeader.code).not.toBe(0);
      expect(tokenHeader.stderr).not.toContain(TOKEN);
    } finally {
      await mtls.close();
    }
  }, 180_000); // three runs of the binary through tsx: slow on a loaded 2-core CI host (90 s was hit)
});
