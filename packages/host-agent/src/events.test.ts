/**
 * The preparer's event recording against a real kv-server: events land in `events/<node>/<pod>`,
 * and when the store goes away (the server process really stops) recording neither throws nor
 * waits — the events are dropped and counted in `p2_preparer_events_dropped_total`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodEventStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder } from './events.js';
import { PreparerMetrics } from './metrics.js';
import { Preparer } from './preparer.js';

let dir: string;
let server: KvServer;
let store: Store;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-host-agent-events-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
  store = createStore(`consul://127.0.0.1:${server.port}`);
});
afterEach(async () => {
  await store.close();
  await server.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const dropped = async (metrics: PreparerMetrics) =>
  (await metrics.eventsDropped.get()).values.reduce((n, v) => n + v.value, 0);

describe('EventRecorder', () => {
  it('writes queued events in batches, oldest first', async () => {
    const metrics = new PreparerMetrics({ processMetrics: false });
    const events = new EventRecorder(store, 'p2t-n1', metrics, pino({ level: 'silent' }));
    for (let i = 0; i < 5; i++) events.record('web', { type: 'hook', message: `m${i}` });
    await events.settle();
    const kept = await new PodEventStore(store).list('p2t-n1', 'web');
    expect(kept.map((e) => e.message)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(await dropped(metrics)).toBe(0);
  });

  it('drops and counts events while the store is down, without throwing or waiting', async () => {
    const metrics = new PreparerMetrics({ processMetrics: false });
    const events = new EventRecorder(store, 'p2t-n1', metrics, pino({ level: 'silent' }));
    await server.close();
    // record() is synchronous: it queues, it never hands the caller a store write to wait for.
    expect(events.record('web', { type: 'deploying', sha: 'abc' })).toBeUndefined();
    expect(events.record('web', { type: 'deployed', sha: 'abc' })).toBeUndefined();
    await events.settle(30_000);
    expect(await dropped(metrics)).toBeGreaterThanOrEqual(1);
  });
});

describe('Preparer events', () => {
  it('records a refused (unreadable) intent entry as an `invalid` event of the pod', async () => {
    const preparer = new Preparer({
      node: 'p2t-n1',
      store,
      host: { installedPods: async () => [] } as never,
      authorize: async () => {},
      logger: pino({ level: 'silent' }),
      metrics: new PreparerMetrics({ processMetrics: false }),
      requirePreparerInIntent: false,
    });
    preparer.dispatchSnapshot([
      { kind: 'invalid', podId: 'web', uniqueKey: '', key: 'intent/p2t-n1/web', error: 'bad yaml' },
    ]);
    await preparer.drain();
    await preparer.stop();
    const [event] = await new PodEventStore(store).list('p2t-n1', 'web');
    expect(event).toMatchObject({
      type: 'invalid',
      message: 'bad yaml',
      code: 'P2_MANIFEST_INVALID',
    });
  });
});
