import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PreparerStatusStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { type Manifest, parseManifest } from '@p2/manifest';
import { type PodHost, PodLayout } from '@p2/pods';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertRequireFile, PreparerMetrics } from './index.js';
import { Preparer, type PreparerOptions } from './preparer.js';

let dir: string;
let server: KvServer;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-host-agent-preparer-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
  store = createStore(`consul://127.0.0.1:${server.port}`);
});
afterEach(async () => {
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** A host with nothing installed but the preparer's own pod (when `own` is given). */
function fakeHost(own?: Manifest): PodHost {
  return {
    layout: (ref: { podId: string; uniqueKey?: string }) =>
      new PodLayout(join(dir, 'pods'), ref.podId, ref.uniqueKey ?? ''),
    currentManifest: async (layout: PodLayout) =>
      own && layout.podId === own.id ? own : undefined,
    installedPods: async () => [],
  } as unknown as PodHost;
}

function preparer(options: Partial<PreparerOptions>): Preparer {
  return new Preparer({
    node: 'p2t-n1',
    store,
    host: fakeHost(),
    authorize: async () => {},
    logger: pino({ level: 'silent' }),
    metrics: new PreparerMetrics({ processMetrics: false }),
    ...options,
  });
}

const get = (socketPath: string, path: string) =>
  new Promise<string>((resolve, reject) => {
    request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });

describe('Preparer start-up', () => {
  it('starts the status server, runs preparer_init for its own pod, and closes the server on stop', async () => {
    const own = parseManifest('id: p2-preparer\nlaunchables: {}\n');
    const runs: string[] = [];
    const socketPath = join(dir, 'status.sock');
    const p = preparer({
      host: fakeHost(own),
      hooks: {
        run: async (event, pod) => {
          runs.push(`${event} ${pod.manifest.id} ${pod.layout.podId}`);
        },
      },
      status: { socketPath },
    });
    await p.start();
    try {
      expect(runs).toEqual(['preparer_init p2-preparer p2-preparer']);
      expect(p.status?.url).toBe(`unix:${socketPath}`);
      expect(await get(socketPath, '/_status')).toBe('p2-preparer OK');
    } finally {
      await p.stop();
    }
    expect(existsSync(socketPath)).toBe(false);
  });

  it('starts no status server when neither a port nor a socket is given, and no hook without its own pod', async () => {
    const runs: string[] = [];
    const p = preparer({
      hooks: {
        run: async (event) => {
          runs.push(event);
        },
      },
      status: {},
    });
    await p.start();
    await p.stop();
    expect(p.status).toBeUndefined();
    expect(runs).toEqual([]);
  });
});

describe('Preparer heartbeat', () => {
  const until = async (what: () => Promise<boolean>) => {
    for (let i = 0; i < 500 && !(await what()); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await what()).toBe(true);
  };

  it('publishes the node record at start, with no pod, and refreshes it every beat', async () => {
    const statuses = new PreparerStatusStore(store);
    const p = preparer({ version: '9.8.7', heartbeatMs: 40 });
    await p.start();
    try {
      await until(async () => (await statuses.nodes()).has('p2t-n1'));
      const first = (await statuses.nodes()).get('p2t-n1');
      expect(first).toMatchObject({ node: 'p2t-n1', version: '9.8.7', heartbeatMs: 40 });
      expect(Date.parse(first?.started ?? '')).toBeLessThanOrEqual(Date.parse(first?.seen ?? ''));
      await until(async () => (await statuses.nodes()).get('p2t-n1')?.seen !== first?.seen);
      expect((await statuses.nodes()).get('p2t-n1')?.started).toBe(first?.started);
      expect(await statuses.list('p2t-n1')).toEqual([]);
    } finally {
      await p.stop();
    }
  });

  it('keeps beating while the store is down (each failed write counted, none retried early)', async () => {
    const metrics = new PreparerMetrics({ processMetrics: false });
    const failures = async () =>
      (await metrics.storeErrors.get()).values.find((v) => v.labels.op === 'status')?.value ?? 0;
    await server.close();
    const p = preparer({ heartbeatMs: 30, metrics });
    await p.start();
    try {
      await until(async () => (await failures()) >= 2);
    } finally {
      await p.stop();
    }
    const after = await failures();
    await new Promise((r) => setTimeout(r, 100));
    expect(await failures()).toBe(after);
    server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
  });
});

describe('assertRequireFile', () => {
  it('passes when the file exists and refuses to start, naming it, when it does not', () => {
    expect(() => assertRequireFile(dir)).not.toThrow();
    const missing = join(dir, 'may-run');
    expect(() => assertRequireFile(missing)).toThrow(
      expect.objectContaining({
        code: 'P2_PREPARER_REQUIRE_FILE_MISSING',
        message: `require_file ${missing} does not exist; refusing to start`,
        hint: `create ${missing} when this host may run pods`,
      }),
    );
  });
});
