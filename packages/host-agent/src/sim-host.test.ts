import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeHealthRecord,
  GateReportStore,
  HealthStore,
  healthKey,
  intentKey,
  PodEventStore,
  PodHistoryStore,
  PreparerStatusStore,
  realityKey,
} from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LifecycleHooks } from './deploy.js';
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

      // A metric-gate verdict on it (a gated roll placed it): gone with the pod.
      const gates = new GateReportStore(store);
      await gates.set(node, 'p2t-sim', {
        sha: parseManifest(text(2)).sha(),
        roll: 'p2t-rc',
        state: 'passed',
        updated: new Date().toISOString(),
      });
      await store.delete(intentKey(node, 'p2t-sim'));
      await until(async () => ((await reality()) === undefined ? true : undefined));
      expect(host.manifestOf({ podId: 'p2t-sim' })).toBeUndefined();
      expect(await host.installedPods()).toEqual([]);
      await until(async () =>
        (await gates.get(node, 'p2t-sim')) === undefined ? true : undefined,
      );
    } finally {
      await preparer.stop();
      await health.close();
    }
  });
});

describe('removal grace (preparer config removal_grace)', () => {
  const pod = 'p2t-grace';
  const manifest = (v: number) =>
    `id: ${pod}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://a.invalid/app_${v}.tar.gz\n`;
  /** Runs v1, then deletes its intent and writes v2's 300 ms later (an RC roll's two writes). */
  async function removeThenReplace(removalGraceMs: number) {
    const node = `p2t-grace-${removalGraceMs}`;
    const host = new SimHost(node);
    const preparer = new Preparer({
      node,
      store,
      host,
      authorize: async () => {},
      logger: pino({ level: 'silent' }),
      metrics: new PreparerMetrics({ processMetrics: false }),
      requirePreparerInIntent: false,
      removalGraceMs,
    });
    await preparer.start();
    try {
      const reality = async () => {
        const { value } = await store.get(realityKey(node, pod));
        return value ? Buffer.from(value.value).toString('utf8') : undefined;
      };
      await store.put(intentKey(node, pod), manifest(1));
      await until(async () => ((await reality()) === manifest(1) ? true : undefined));
      await store.delete(intentKey(node, pod));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await store.put(intentKey(node, pod), manifest(2));
      await until(async () => ((await reality()) === manifest(2) ? true : undefined));
      return { ...host.counters };
    } finally {
      await preparer.stop();
    }
  }

  it('new intent within the grace makes a removal an update in place; 0 removes at once, as P2', async () => {
    expect(await removeThenReplace(1000)).toEqual({
      installs: 2,
      launches: 2,
      halts: 1,
      uninstalls: 0,
    });
    const atOnce = await removeThenReplace(0);
    expect(atOnce.uninstalls).toBe(1);
    expect(atOnce.installs).toBe(2);
  });
});

/* Store writes per deploy (issue 20): a pod update costs reality (with the old version's health
 * withdrawn in its transaction), status (its events and history ride in the status's
 * transaction), and the new version's health — counted as commits of a real kv-server. */
const NODE = 'p2t-writes-n1';
const POD = 'p2t-writes';
const text = (v: number, statusPort?: number) =>
  `id: ${POD}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://a.invalid/app_${v}.tar.gz\nconfig:\n  v: ${v}\n${statusPort ? `status_port: ${statusPort}\nstatus_http: true\n` : ''}`;
/** The store's commit index (every write, transaction and session change moves it). */
const storeIndex = async () => (await store.get('p2t-writes/absent')).index;

/** A preparer on a simulated host whose timers (heartbeat, reports, checks, renewals) stay quiet. */
function preparer(hooks?: LifecycleHooks, checkTimeoutMs = 1000) {
  const logger = pino({ level: 'silent' });
  const health = startHealthTracking({
    store,
    node: NODE,
    intervalMs: 600_000,
    timeoutMs: checkTimeoutMs,
    writer: { sessionRetryBaseMs: 50, sessionTtlMs: 600_000 },
    checkHost: '127.0.0.1',
    logger,
  });
  const p = new Preparer({
    node: NODE,
    store,
    host: new SimHost(NODE),
    authorize: async () => {},
    logger,
    metrics: new PreparerMetrics({ processMetrics: false }),
    requirePreparerInIntent: false,
    health: health.tracker,
    heartbeatMs: 600_000,
    processReportIntervalMs: 600_000,
    deployingStatusDelayMs: 60_000,
    ...(hooks ? { hooks } : {}),
  });
  return { preparer: p, health };
}

const status = () => new PreparerStatusStore(store).list(NODE);
const state = async () => {
  const [entry] = await status();
  return entry
    ? (JSON.parse(Buffer.from(entry.value).toString('utf8')) as { state: string; sha?: string })
    : undefined;
};

describe('store writes per deploy', () => {
  it('an update writes reality (withdrawing the old health), status (with its events and history) and health: 3', async () => {
    const { preparer: p, health } = preparer();
    await p.start();
    try {
      await store.put(intentKey(NODE, POD), text(1));
      await until(async () => ((await state())?.state === 'running' ? true : undefined));
      const v1Health = await until(async () => {
        const r = await new HealthStore(store).get(POD, NODE);
        return r?.status === 'passing' ? r : undefined;
      });
      const v2 = text(2);
      const before = await storeIndex();
      await store.put(intentKey(NODE, POD), v2);
      const sha = parseManifest(v2).sha();
      await until(async () => {
        const s = await state();
        return s?.state === 'running' && s.sha === sha ? true : undefined;
      });
      await p.drain();
      // v1's record was withdrawn with v2's reality (it must never vouch for v2); v2 is checked at once.
      const record = await until(async () => {
        const r = await new HealthStore(store).get(POD, NODE);
        return r && r.time.getTime() !== v1Health.time.getTime() ? r : undefined;
      });
      expect(record.status).toBe('passing');
      const written = (await store.list('')).value.filter((e) => e.modifyIndex > before);
      const at = (prefix: string) => written.find((e) => e.key.startsWith(prefix))?.modifyIndex;
      // The deploy's status, events and history are one transaction.
      expect(at('status/preparer/')).toBeDefined();
      expect(at('events/')).toBe(at('status/preparer/'));
      expect(at('history/')).toBe(at('status/preparer/'));
      expect(at('reality/')).toBeDefined();
      // Reality with v1's health withdrawn, that transaction, v2's health published.
      const writes = (await storeIndex()) - before - 1; // the intent write is the test's
      expect(writes).toBe(3);

      // Nothing was lost: both events of the deploy, and v2 in the history.
      const events = await new PodEventStore(store).list(NODE, POD);
      expect(events.map((e) => e.type)).toEqual(['deploying', 'deployed', 'deploying', 'deployed']);
      const history = await new PodHistoryStore(store).list(NODE, POD);
      expect(history.map((r) => r.rev)).toEqual([1, 2]);
      expect(history.at(-1)?.manifest).toBe(v2);
      expect((await state())?.state).toBe('running');
    } finally {
      await p.stop();
      await health.close();
    }
  });

  it('a deploy that fails halfway records its events with its failure', async () => {
    let fail = false;
    const hooks: LifecycleHooks = {
      run: async (event) => {
        if (fail && event === 'before_launch') throw new Error('p2t before_launch hook failed');
      },
    };
    const { preparer: p, health } = preparer(hooks);
    await p.start();
    try {
      await store.put(intentKey(NODE, POD), text(1));
      await until(async () => ((await state())?.state === 'running' ? true : undefined));
      await until(async () =>
        (await new HealthStore(store).get(POD, NODE))?.status === 'passing' ? true : undefined,
      );
      fail = true;
      await store.put(intentKey(NODE, POD), text(2));
      const failed = await until(async () => {
        const s = await state();
        return s?.state === 'failed' ? s : undefined;
      });
      expect(failed.state).toBe('failed');
      // v1 was halted and reality (still naming it) was not rewritten: its record went anyway.
      expect(await new HealthStore(store).get(POD, NODE)).toBeUndefined();
      const events = await until(async () => {
        const list = await new PodEventStore(store).list(NODE, POD);
        return list.some((e) => e.type === 'deploy-failed') ? list : undefined;
      });
      const types = events.map((e) => e.type);
      // The held `deploying` event and the hook failure were written with the failure.
      expect(types.slice(0, 4)).toEqual(['deploying', 'deployed', 'deploying', 'hook']);
      expect(types[4]).toBe('deploy-failed');
      // A failed version is not in the history.
      expect((await new PodHistoryStore(store).list(NODE, POD)).map((r) => r.rev)).toEqual([1]);
    } finally {
      await p.stop();
      await health.close();
    }
  });
});

describe("the old version's health never vouches for the new one", () => {
  it("from the reality write until the new version's own first check, no reader sees passing", async () => {
    // v2's status port (a real HTTP server) answers only once `ready`: until then its first check
    // is under way and nothing of v2's is published, so any record shown is v1's.
    let ready = false;
    const held: Array<() => void> = [];
    const app = createServer((_req, res) => {
      const answer = () => res.writeHead(200).end();
      if (ready) answer();
      else held.push(answer);
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const port = (app.address() as AddressInfo).port;
    const { preparer: p, health } = preparer(undefined, 60_000);
    await p.start();
    // What readers see, sampled atomically (one read transaction) all through the deploy.
    const sha2 = parseManifest(text(2, port)).sha();
    const seen: Array<{ reality: string | undefined; health: string | undefined; ready: boolean }> =
      [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await store.txn([
          { verb: 'get-tree', key: realityKey(NODE, POD) }, // a `get` of a missing key fails it
          { verb: 'get-tree', key: healthKey(POD, NODE) },
        ]);
        if (!r.committed) throw new Error('a read transaction rolled back');
        const value = (key: string) => {
          const e = r.results.find((x) => x.key === key);
          return e ? Buffer.from(e.value).toString('utf8') : undefined;
        };
        const h = value(healthKey(POD, NODE));
        seen.push({
          reality: value(realityKey(NODE, POD)),
          health: h === undefined ? undefined : decodeHealthRecord(h).status,
          // Read after the snapshot: when false, v2 could not have passed a check before it.
          ready,
        });
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    try {
      await store.put(intentKey(NODE, POD), text(1));
      await until(async () =>
        (await new HealthStore(store).get(POD, NODE))?.status === 'passing' ? true : undefined,
      );
      await store.put(intentKey(NODE, POD), text(2, port));
      await until(async () => {
        const s = await state();
        return s?.state === 'running' && s.sha === sha2 ? true : undefined;
      });
      await p.drain();
      // Reality names v2, its first check is waiting for an answer, and v1's record is gone.
      const { value: reality } = await store.get(realityKey(NODE, POD));
      expect(Buffer.from(reality!.value).toString('utf8')).toBe(text(2, port));
      await until(async () => (held.length > 0 ? true : undefined));
      expect(await new HealthStore(store).get(POD, NODE)).toBeUndefined();

      ready = true;
      for (const answer of held.splice(0)) answer();
      await until(async () =>
        (await new HealthStore(store).get(POD, NODE))?.status === 'passing' ? true : undefined,
      );
      sampling = false;
      await sampler;
      // The sampler saw v1 passing, then v2 named before it could pass: never with `passing`.
      expect(seen.some((x) => x.reality === text(1) && x.health === 'passing')).toBe(true);
      const early = seen.filter((x) => x.reality === text(2, port) && !x.ready);
      expect(early.length).toBeGreaterThan(0);
      expect(early.filter((x) => x.health === 'passing')).toEqual([]);
    } finally {
      sampling = false;
      await sampler;
      await p.stop();
      await health.close();
      for (const answer of held.splice(0)) answer();
      await new Promise((resolve) => app.close(resolve));
    }
  });
});
