import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeHealthRecord } from '@p2/keyspace';
import { ConsulStore } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HealthResult } from './check.js';
import { HealthChecker } from './checker.js';
import { StoreHealthPublisher } from './publisher.js';

// A real @p2/kv-server on loopback, spoken to through @p2/kv's Consul backend.
let dataDir = '';
let server: KvServer;
let store: ConsulStore;
const publishers: StoreHealthPublisher[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-health-kv-'));
  server = await startKvServer({ dataDir, port: 0, nodeName: 'p2t-node', sessionTtlMinMs: 1000 });
  store = new ConsulStore({ address: `127.0.0.1:${server.port}` });
});
afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await store?.close();
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function start(node: string, extra: { sessionTtlMs?: number } = {}) {
  const publisher = await StoreHealthPublisher.start({
    store,
    node,
    sessionRetryBaseMs: 50,
    ...extra,
  });
  publishers.push(publisher);
  return publisher;
}

function result(status: HealthResult['status'], at: string): HealthResult {
  return { status, reason: 'test', durationMs: 1, checkedAt: new Date(at) };
}

async function read(key: string) {
  const { value } = await store.get(key);
  return value;
}

async function waitFor(
  what: string,
  cond: () => Promise<boolean>,
  timeoutMs = 8000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('StoreHealthPublisher', () => {
  it("writes P2's record under a delete-behaviour session named like P2's", async () => {
    const publisher = await start('p2t-h1');
    await publisher.publish('p2t-web', result('passing', '2026-01-02T03:04:05Z'));
    const entry = await read('health/p2t-web/p2t-h1');
    expect(entry?.session).toBe(publisher.session);
    expect(decodeHealthRecord(entry!.value)).toMatchObject({
      podId: 'p2t-web',
      node: 'p2t-h1',
      service: 'p2t-web',
      status: 'passing',
      time: new Date('2026-01-02T03:04:05Z'),
    });
    const info = await store.sessionInfo(publisher.session!);
    expect(info?.name).toMatch(new RegExp(`^health:p2t-h1:${process.pid}:\\d{4}-\\d{6}$`));
    expect(info?.behavior).toBe('delete');
    expect(info?.lockDelayMs).toBe(1);
    expect(info?.ttlMs).toBe(15_000);
  });

  it('keeps Time at the last status change', async () => {
    const publisher = await start('p2t-h2');
    await publisher.publish('p2t-web', result('critical', '2026-01-02T00:00:00Z'));
    await publisher.publish('p2t-web', result('critical', '2026-01-02T00:01:00Z'));
    expect(decodeHealthRecord((await read('health/p2t-web/p2t-h2'))!.value).time).toEqual(
      new Date('2026-01-02T00:00:00Z'),
    );
    await publisher.publish('p2t-web', result('passing', '2026-01-02T00:02:00Z'));
    expect(decodeHealthRecord((await read('health/p2t-web/p2t-h2'))!.value)).toMatchObject({
      status: 'passing',
      time: new Date('2026-01-02T00:02:00Z'),
    });
  });

  it('removes a key, and every key vanishes with the session on close', async () => {
    const publisher = await start('p2t-h3');
    await publisher.publish('p2t-a', result('passing', '2026-01-02T00:00:00Z'));
    await publisher.publish('p2t-b', result('passing', '2026-01-02T00:00:00Z'));
    await publisher.remove('p2t-a');
    expect(await read('health/p2t-a/p2t-h3')).toBeUndefined();
    expect(await read('health/p2t-b/p2t-h3')).toBeDefined();
    await publisher.close();
    expect(await read('health/p2t-b/p2t-h3')).toBeUndefined();
    await expect(
      publisher.publish('p2t-b', result('passing', '2026-01-02T00:00:00Z')),
    ).rejects.toMatchObject({
      code: 'P2_HEALTH_CLOSED',
    });
  });

  it('re-creates a lost session and rewrites every status', async () => {
    const publisher = await start('p2t-h4', { sessionTtlMs: 1000 });
    await publisher.publish('p2t-web', result('warning', '2026-01-02T00:00:00Z'));
    const first = publisher.session!;
    await store.destroySession(first); // as when the store expires it
    expect(await read('health/p2t-web/p2t-h4')).toBeUndefined();
    await waitFor(
      'a new session',
      async () => publisher.session !== undefined && publisher.session !== first,
    );
    await waitFor('the rewrite', async () => (await read('health/p2t-web/p2t-h4')) !== undefined);
    const entry = await read('health/p2t-web/p2t-h4');
    expect(entry?.session).toBe(publisher.session);
    expect(decodeHealthRecord(entry!.value).status).toBe('warning');
  });

  it('forgets a pod: its key is left for a transaction to withdraw and never rewritten', async () => {
    const publisher = await start('p2t-h7', { sessionTtlMs: 1000 });
    await publisher.publish('p2t-a', result('passing', '2026-01-02T00:00:00Z'));
    await publisher.publish('p2t-b', result('passing', '2026-01-02T00:00:00Z'));
    await publisher.forget('p2t-a');
    // Still there, still held by the session (it vanishes with it if the host dies first).
    expect((await read('health/p2t-a/p2t-h7'))?.session).toBe(publisher.session);
    // Withdrawn in someone else's transaction (the preparer's reality write).
    const txn = await store.txn([
      { verb: 'set', key: 'p2t-reality/p2t-a', value: 'v2' },
      { verb: 'delete', key: 'health/p2t-a/p2t-h7' },
    ]);
    expect(txn.committed).toBe(true);
    // A new session rewrites what the publisher knows: p2t-b, not the forgotten p2t-a.
    const first = publisher.session!;
    await store.destroySession(first);
    await waitFor('the rewrite', async () => (await read('health/p2t-b/p2t-h7')) !== undefined);
    expect(await read('health/p2t-a/p2t-h7')).toBeUndefined();
  });

  it('a checker that drops a pod with keepRecord stops publishing it and leaves its key', async () => {
    const checker = new HealthChecker({ publisher: await start('p2t-h8'), intervalMs: 20 });
    try {
      checker.setPod({ podId: 'p2t-kept', host: '127.0.0.1', status: undefined });
      await waitFor('passing', async () => (await read('health/p2t-kept/p2t-h8')) !== undefined);
      await checker.removePod('p2t-kept', { keepRecord: true });
      const left = await read('health/p2t-kept/p2t-h8');
      expect(left).toBeDefined();
      await store.delete('health/p2t-kept/p2t-h8');
      await sleep(100); // five intervals: a check still scheduled would have written it again
      expect(await read('health/p2t-kept/p2t-h8')).toBeUndefined();
    } finally {
      await checker.close();
    }
  });

  it('a write under a dead session fails instead of leaving an orphan key', async () => {
    const publisher = await start('p2t-h5', { sessionTtlMs: 60_000 });
    await store.destroySession(publisher.session!);
    await expect(
      publisher.publish('p2t-web', result('passing', '2026-01-02T00:00:00Z')),
    ).rejects.toMatchObject({
      code: 'P2_HEALTH_PUBLISH_FAILED',
    });
    expect(await read('health/p2t-web/p2t-h5')).toBeUndefined();
  });

  it('refuses to overwrite a key another session holds', async () => {
    const other = await store.createSession({
      name: 'p2t-other',
      behavior: 'delete',
      lockDelayMs: 1,
    });
    try {
      expect(await store.acquire('health/p2t-web/p2t-h6', '{}', other)).toBe(true);
      const publisher = await start('p2t-h6');
      await expect(
        publisher.publish('p2t-web', result('passing', '2026-01-02T00:00:00Z')),
      ).rejects.toThrowError(/locked by another session/);
    } finally {
      await store.destroySession(other);
    }
  });

  it('a checker keeps a real pod health key in the store', async () => {
    let code = 200;
    const pod = http.createServer((_q, res) => {
      res.statusCode = code;
      res.end();
    });
    await new Promise<void>((r) => pod.listen(0, '127.0.0.1', r));
    const port = (pod.address() as AddressInfo).port;
    const checker = new HealthChecker({ publisher: await start('127.0.0.1'), intervalMs: 20 });
    try {
      checker.setPod({
        podId: 'p2t-live',
        host: '127.0.0.1',
        status: { port, path: '/_status', scheme: 'http', localhostOnly: false },
      });
      const status = async () => {
        const entry = await read('health/p2t-live/127.0.0.1');
        return entry && decodeHealthRecord(entry.value).status;
      };
      await waitFor('passing', async () => (await status()) === 'passing');
      code = 503;
      await waitFor('critical', async () => (await status()) === 'critical');
      await checker.removePod('p2t-live');
      expect(await read('health/p2t-live/127.0.0.1')).toBeUndefined();
    } finally {
      await checker.close();
      pod.closeAllConnections();
      await new Promise((r) => pod.close(r));
    }
  });
});
