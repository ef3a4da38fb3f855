/**
 * Host-local auto-revert for real: a store server, runit, the hello app as v1 and a v2 whose
 * `/_status` always answers 500. The preparer deploys v2, the store goes away, v2 never gets
 * healthy, and the preparer goes back to v1 by itself; once the store is back it says so. A
 * restarted preparer does not try v2 again; a new intent is deployed. Needs root. Every name
 * starts with p2t- and everything is removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { detectCgroups } from '@p2/cgroups';
import { packArtifact } from '@p2/hoist';
import { PodEventStore, preparerStatusKey, realityKey } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { type Manifest, parseManifest } from '@p2/manifest';
import { PodHost } from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUpHostTest, freePort } from '../../../test-support/host-test.js';
import { type PodState, Preparer, PreparerMetrics } from './index.js';

const helloApp = fileURLToPath(new URL('../../../examples/hello-app', import.meta.url));
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-revert-${suffix}`;
const node = `p2t-node-revert-${suffix}`;
const asRoot = process.getuid?.() === 0;
const SECRET = 'p2t-text-only-the-pod-knows';

let work = '';
let runsvdir: RunsvDir;
let artifacts: Server;
let artifactsUrl = '';
let kv: KvServer;
let kvPort = 0;
let store: Store;
let appPort = 0;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function manifest(artifact: string, greeting: string): Manifest {
  return parseManifest(
    [
      `id: ${podId}`,
      'launchables:',
      '  app:',
      '    launchable_type: hoist',
      `    location: ${artifactsUrl}/${artifact}`,
      '    restart_timeout: 5s',
      'config:',
      `  port: ${appPort}`,
      `  greeting: ${greeting}`,
      'status_port: ' + appPort,
      'status_http: true',
      '',
    ].join('\n'),
  );
}

async function answer(): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${appPort}/`).catch(() => undefined);
  return res ? (await res.text()).trim() : undefined;
}

async function preparer(onState?: (s: PodState) => void, afterMs = 3000): Promise<Preparer> {
  return new Preparer({
    node,
    store,
    host: new PodHost({
      podRoot: join(work, 'pods'),
      nodeName: node,
      runsvdir,
      cgroups: existsSync('/sys/fs/cgroup/memory') ? await detectCgroups() : false,
      fetch: { retries: 1, backoffMs: 5, maxBackoffMs: 10 },
    }),
    authorize: async () => {},
    logger: pino({ level: 'silent' }),
    metrics: new PreparerMetrics({ processMetrics: false }),
    requirePreparerInIntent: false,
    backoff: { initialMs: 200, maxMs: 1000 },
    autoRevert: {
      afterMs,
      stateFile: join(work, 'state', 'reverted.json'),
      checkHost: '127.0.0.1',
      intervalMs: 200,
      timeoutMs: 1000,
    },
    ...(onState ? { onState } : {}),
  });
}

beforeAll(async () => {
  if (!asRoot) return;
  work = await mkdtemp(join(tmpdir(), 'p2t-revert-'));
  await chmod(work, 0o755);
  // v2: the hello app whose status check always fails, answering text of its own.
  await cp(helloApp, join(work, 'bad'), { recursive: true });
  const server = join(work, 'bad', 'server.cjs');
  await writeFile(
    server,
    (await readFile(server, 'utf8')).replace(
      "if (req.url === '/_status') {",
      `if (req.url === '/_status') { res.writeHead(500); res.end('${SECRET}'); return;`,
    ),
  );
  const files = new Map([
    ['hello_good.tar.gz', await packArtifact(helloApp)],
    ['hello_bad.tar.gz', await packArtifact(join(work, 'bad'))],
  ]);
  artifacts = createServer((req, res) => {
    const body = files.get((req.url ?? '').slice(1));
    res.writeHead(body ? 200 : 404);
    res.end(body ?? 'not found');
  });
  await new Promise<void>((r) => artifacts.listen(0, '127.0.0.1', r));
  artifactsUrl = `http://127.0.0.1:${(artifacts.address() as AddressInfo).port}`;
  runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 1 });
  await runsvdir.start();
  kvPort = await freePort();
  kv = await startKvServer({ dataDir: join(work, 'kv'), port: kvPort });
  store = createStore(`consul://127.0.0.1:${kvPort}`);
  appPort = await freePort();
}, 60_000);

afterAll(async () => {
  if (!asRoot) return;
  artifacts?.close();
  await store?.close().catch(() => undefined);
  await kv?.close().catch(() => undefined);
  await cleanUpHostTest({ runsvdir, node, pods: [podId], users: [podId], dir: work });
});

describe.runIf(asRoot)('host-local auto-revert', () => {
  it('goes back to v1 by itself, with the store down, and does not try v2 again until intent changes', async () => {
    const v1 = manifest('hello_good.tar.gz', 'one');
    const v2 = manifest('hello_bad.tar.gz', 'two');
    const states: PodState[] = [];
    let first = await preparer((s) => {
      states.push(s);
      // v2 runs: the store goes away for the whole health deadline and the revert.
      if (s.state === 'running' && s.sha === v2.sha()) void kv.close();
    });
    await store.put(`intent/${node}/${podId}`, v1.text());
    await first.start();
    await waitFor('v1', async () => (await answer()) === 'one');

    await store.put(`intent/${node}/${podId}`, v2.text());
    const reverted = await waitFor('the revert', async () =>
      states.find((s) => s.state === 'reverted'),
    );
    expect(reverted).toMatchObject({
      sha: v2.sha(),
      revertedTo: v1.sha(),
      code: 'P2_PREPARER_REVERTED',
    });
    expect(reverted.error).toMatch(/^not healthy within 3s \(last check: HTTP 500\)$/);
    expect(reverted.error).not.toContain(SECRET);
    await waitFor('v1 again', async () => (await answer()) === 'one');
    expect(JSON.parse(await readFile(join(work, 'state', 'reverted.json'), 'utf8'))).toMatchObject({
      [podId]: { sha: v2.sha(), to: v1.sha() },
    });

    // The store comes back: the status and reality written while it was down arrive.
    kv = await startKvServer({ dataDir: join(work, 'kv'), port: kvPort });
    const status = await waitFor('the reverted status in the store', async () => {
      const { value } = await store.get(preparerStatusKey(node, podId));
      const parsed = value && JSON.parse(Buffer.from(value.value).toString('utf8'));
      return parsed?.state === 'reverted' ? parsed : undefined;
    });
    expect(status).toMatchObject({ sha: v2.sha(), revertedTo: v1.sha() });
    await waitFor('reality naming v1', async () => {
      const { value } = await store.get(realityKey(node, podId));
      return value && parseManifest(Buffer.from(value.value).toString('utf8')).sha() === v1.sha();
    });
    await first.stop();

    // A restarted preparer remembers: v2 is not deployed again while intent names it.
    states.length = 0;
    first = await preparer((s) => states.push(s));
    await first.start();
    await waitFor('the restarted preparer', async () => states.some((s) => s.state === 'reverted'));
    await first.drain();
    expect(states.map((s) => s.state)).not.toContain('deploying');
    expect(await answer()).toBe('one');

    // Intent changes: the new version is deployed and the memory of v2 is dropped.
    const v3 = manifest('hello_good.tar.gz', 'three');
    await store.put(`intent/${node}/${podId}`, v3.text());
    await waitFor('v3', async () => (await answer()) === 'three');
    await waitFor('v3 running', async () =>
      states.some((s) => s.state === 'running' && s.sha === v3.sha()),
    );
    expect(JSON.parse(await readFile(join(work, 'state', 'reverted.json'), 'utf8'))).toEqual({});
    await first.stop();
    // The revert's event, recorded while the store was down, arrived once it was back.
    const events = await new PodEventStore(store).list(node, podId);
    expect(events.find((e) => e.type === 'reverted')).toMatchObject({
      sha: v2.sha(),
      to: v1.sha(),
      message: reverted.error,
    });
  }, 120_000);

  it('a preparer restarted during the health wait finishes it, and reverts', async () => {
    // From the first test: v3 ("three") runs. v4 never gets healthy.
    const v3 = manifest('hello_good.tar.gz', 'three');
    const v4 = manifest('hello_bad.tar.gz', 'four');
    const waitsFile = join(work, 'state', 'reverted.json.waits');
    const states: PodState[] = [];
    const first = await preparer((s) => states.push(s));
    await store.put(`intent/${node}/${podId}`, v3.text());
    await first.start();
    await waitFor('v3', async () => (await answer()) === 'three');
    await store.put(`intent/${node}/${podId}`, v4.text());
    await waitFor('v4 running', async () =>
      states.some((s) => s.state === 'running' && s.sha === v4.sha()),
    );
    // One second into its 3 s wait, the preparer stops; the wait is on disk.
    await sleep(1000);
    await first.stop();
    expect(states.map((s) => s.state)).not.toContain('reverted');
    expect(await answer()).toBe('four');
    const waits = JSON.parse(await readFile(waitsFile, 'utf8'));
    expect(waits[podId]).toMatchObject({ sha: v4.sha() });
    expect(parseManifest(Buffer.from(waits[podId].previous, 'base64')).sha()).toBe(v3.sha());

    // The next preparer finishes the wait (what was left of it): v4 is reverted to v3.
    const again: PodState[] = [];
    const second = await preparer((s) => again.push(s));
    await second.start();
    const reverted = await waitFor(
      'the resumed revert',
      async () => again.find((s) => s.state === 'reverted'),
      20_000,
    );
    expect(reverted).toMatchObject({ sha: v4.sha(), revertedTo: v3.sha() });
    await waitFor('v3 again', async () => (await answer()) === 'three');
    expect(JSON.parse(await readFile(waitsFile, 'utf8'))).toEqual({});
    await second.stop();

    // A wait left for a preparer whose auto-revert is now off (after: 0) is dropped, not run.
    const v5 = manifest('hello_bad.tar.gz', 'five');
    const third: PodState[] = [];
    const off = await preparer((s) => third.push(s), 0);
    await store.put(`intent/${node}/${podId}`, v5.text());
    await off.start();
    await waitFor('v5 running', async () =>
      third.some((s) => s.state === 'running' && s.sha === v5.sha()),
    );
    await off.stop();
    await writeFile(
      waitsFile,
      JSON.stringify({
        [podId]: { sha: v5.sha(), previous: Buffer.from(v3.raw).toString('base64'), deadline: 0 },
      }),
    );
    third.length = 0;
    const offAgain = await preparer((s) => third.push(s), 0);
    await offAgain.start();
    await waitFor('the wait dropped', async () =>
      JSON.stringify(JSON.parse(await readFile(waitsFile, 'utf8'))) === '{}' ? true : undefined,
    );
    await offAgain.drain();
    expect(third.map((s) => s.state)).not.toContain('reverted');
    expect(await answer()).toBe('five');
    await offAgain.stop();
  }, 120_000);
});
