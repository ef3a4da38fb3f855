/**
 * The preparer's event recording against a real kv-server: events land in `events/<node>/<pod>`,
 * and when the store goes away (the server process really stops) recording neither throws nor
 * waits — the events are dropped and counted in `p2_preparer_events_dropped_total`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodEventStore, PodHistoryStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
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

  it("commits a deploy's events and history on what it last wrote, without reading them; another writer's change is read, not lost", async () => {
    const metrics = new PreparerMetrics({ processMetrics: false });
    let reads: string[] = [];
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === 'get')
          return (key: string, ...rest: unknown[]) => {
            reads.push(key);
            return (value as (...a: unknown[]) => unknown).call(target, key, ...rest);
          };
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const events = new EventRecorder(counting, 'p2t-n1', metrics, pino({ level: 'silent' }));
    const manifest = (v: number) => parseManifest(`id: web\nconfig: {v: ${v}}\n`);
    const deploy = async (v: number) => {
      events.hold('web');
      events.record('web', { type: 'deploying', sha: manifest(v).sha() });
      const status = { verb: 'set' as const, key: 'p2t-status/web', value: `v${v}` };
      expect(await events.commit('web', [status], { deployed: manifest(v) })).toBe(true);
    };
    await deploy(1); // first: nothing known, both read
    expect(reads.sort()).toEqual(['events/p2t-n1/web', 'history/p2t-n1/web']);
    reads = [];
    await deploy(2);
    events.record('web', { type: 'health', to: 'passing' }); // a background batch
    await events.settle();
    expect(reads).toEqual([]);
    // Someone else appends (p2, another tool): the next CAS fails, is read again, and keeps theirs.
    await new PodEventStore(store).append('p2t-n1', 'web', [
      { time: new Date().toISOString(), type: 'hook', message: 'theirs' },
    ]);
    await deploy(3);
    expect(reads).toEqual(['events/p2t-n1/web']);
    const kept = await new PodEventStore(store).list('p2t-n1', 'web');
    expect(kept.map((e) => e.message ?? e.type)).toEqual([
      'deploying',
      'deploying',
      'health',
      'theirs',
      'deploying',
    ]);
    const history = await new PodHistoryStore(store).list('p2t-n1', 'web');
    expect(history.map((r) => r.rev)).toEqual([1, 2, 3]);
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
