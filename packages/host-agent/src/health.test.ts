/**
 * The health writer's settings (the preparer's `healthWriter`, from P2's params) change what
 * reaches a real store: an in-process @p2/kv-server over loopback, a real pod status server.
 * Behaviour is counted in writes and checks, never in elapsed time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeHealthRecord, healthKey } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { ManifestBuilder } from '@p2/manifest';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type HealthWriterSettings, startHealthTracking } from './health.js';

let dir: string;
let server: KvServer;
let store: Store;
let pod: http.Server;
let port = 0;
let hits = 0;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-host-agent-health-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
  store = createStore(`consul://127.0.0.1:${server.port}`);
  // A pod whose status flaps on every check: 200, 503, 200, …
  pod = http.createServer((_req, res) => {
    hits += 1;
    res.statusCode = hits % 2 ? 200 : 503;
    res.end();
  });
  await new Promise<void>((resolve) => pod.listen(0, '127.0.0.1', resolve));
  port = (pod.address() as AddressInfo).port;
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});
afterAll(async () => {
  pod.closeAllConnections();
  await new Promise((resolve) => pod.close(resolve));
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function waitFor(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Tracks the flapping pod on `node` and records every status written to its health key. The
 * store is the real one; only its `acquire` is observed on the way through.
 */
function track(node: string, writer?: HealthWriterSettings): { writes: string[] } {
  const writes: string[] = [];
  const key = healthKey('p2t-flap', node);
  const acquire = async (k: string, value: string, session: string) => {
    const acquired = await store.acquire(k, value, session);
    if (k === key && acquired) writes.push(decodeHealthRecord(value).status);
    return acquired;
  };
  const observed = new Proxy(store, {
    get: (target, name) => {
      if (name === 'acquire') return acquire;
      const value = Reflect.get(target, name, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const health = startHealthTracking({
    store: observed,
    node,
    checkHost: '127.0.0.1',
    intervalMs: 5,
    timeoutMs: 2000,
    ...(writer ? { writer } : {}),
    logger: pino({ level: 'silent' }),
  });
  closers.push(() => health.close());
  health.tracker.track(
    new ManifestBuilder().setId('p2t-flap').setStatusPort(port).setStatusHttp(true).build(),
  );
  return { writes };
}

/** passing, critical, passing, … or critical, passing, … (which comes first depends on the server's count). */
function alternating(writes: string[]): boolean {
  return writes.every(
    (status, i) =>
      ['passing', 'critical'].includes(status) && (i === 0 || status !== writes[i - 1]),
  );
}

async function checks(n: number): Promise<void> {
  const from = hits;
  await waitFor(`${n} checks`, () => hits >= from + n);
}

describe('health writer settings (P2 params)', () => {
  it('health_max_bucket_size and health_writes_per_minute bound the writes of a flapping pod', async () => {
    // P2's defaults: 16 changes pass before the pod is throttled.
    const defaults = track('p2t-hw-default');
    await waitFor('five writes', () => defaults.writes.length >= 5);
    expect(defaults.writes.slice(0, 5)).toSatisfy(alternating);
    await closers.pop()?.();
    // A bucket of 2 refilled once a minute: two changes, then unknown, then nothing.
    const throttled = track('p2t-hw-small', {
      flapControl: { burst: 2, refillPerMinute: 1, holdRefillPeriods: 4 },
    });
    await waitFor('unknown', () => throttled.writes.includes('unknown'));
    await checks(20);
    expect(throttled.writes).toHaveLength(3);
    expect(throttled.writes.slice(0, 2)).toSatisfy(alternating);
    expect(throttled.writes[2]).toBe('unknown');
    const stored = await store.get(healthKey('p2t-flap', 'p2t-hw-small'));
    expect(decodeHealthRecord(stored.value!.value).status).toBe('unknown');
  });

  it('health_session_ttl_sec is the TTL of the session the records are written under', async () => {
    track('p2t-hw-ttl', { sessionTtlMs: 30_000 });
    const key = healthKey('p2t-flap', 'p2t-hw-ttl');
    await waitFor('a record', async () => (await store.get(key)).value !== undefined);
    const session = (await store.get(key)).value?.session as string;
    expect((await store.sessionInfo(session))?.ttlMs).toBe(30_000);
    track('p2t-hw-ttl-default');
    const other = healthKey('p2t-flap', 'p2t-hw-ttl-default');
    await waitFor('a record', async () => (await store.get(other)).value !== undefined);
    const defaultSession = (await store.get(other)).value?.session as string;
    expect((await store.sessionInfo(defaultSession))?.ttlMs).toBe(15_000);
  });
});
