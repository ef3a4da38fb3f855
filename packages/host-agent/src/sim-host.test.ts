import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthStore, intentKey, realityKey } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PreparerMetrics, startHealthTracking } from './index.js';
import { Preparer } from './preparer.js';
import { SimHost } from './sim-host.js';

let dir: string;
let server: KvServer;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-sim-host-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
  store = createStore(`consul://127.0.0.1:${server.port}`);
});
afterEach(async () => {
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await fn();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition never held');
}

describe('SimHost under a real preparer', () => {
  it('deploys, replaces and removes a pod, writing reality and health as a real host', async () => {
    const node = 'p2t-sim-n1';
    const host = new SimHost(node);
    const logger = pino({ level: 'silent' });
    const health = startHealthTracking({
      store,
      node,
      intervalMs: 50,
      timeoutMs: 1000,
      writer: { sessionRetryBaseMs: 50 },
      logger,
    });
    const preparer = new Preparer({
      node,
      store,
      host,
      authorize: async () => {},
      logger,
      metrics: new PreparerMetrics({ processMetrics: false }),
      requirePreparerInIntent: false,
      health: health.tracker,
    });
    await preparer.start();
    try {
      const text = (v: number) =>
        `id: p2t-sim\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://a.invalid/app_${v}.tar.gz\nconfig:\n  v: ${v}\n`;
      const reality = () =>
        store.get(realityKey(node, 'p2t-sim')).then(({ value }) => {
          const s = value && Buffer.from(value.value).toString('utf8');
          return s || undefined;
        });
      await store.put(intentKey(node, 'p2t-sim'), text(1));
      expect(await until(reality)).toBe(text(1));
      expect(host.manifestOf({ podId: 'p2t-sim' })?.config).toEqual({ v: 1 });
      const passing = await until(async () => {
        const record = await new HealthStore(store).get('p2t-sim', node);
        return record?.status === 'passing' ? record : undefined;
      });
      expect(passing.node).toBe(node);

      await store.put(intentKey(node, 'p2t-sim'), text(2));
      await until(async () => ((await reality()) === text(2) ? true : undefined));
      expect(host.counters).toMatchObject({ installs: 2, launches: 2, halts: 1 });
      expect((await host.services(host.manifestOf({ podId: 'p2t-sim' })!))[0]?.status?.state).toBe(
        'run',
      );

      await store.delete(intentKey(node, 'p2t-sim'));
      await until(async () => ((await reality()) === undefined ? true : undefined));
      expect(host.manifestOf({ podId: 'p2t-sim' })).toBeUndefined();
      expect(await host.installedPods()).toEqual([]);
    } finally {
      await preparer.stop();
      await health.close();
    }
  });
});
