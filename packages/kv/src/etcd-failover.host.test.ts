/**
 * Failover of blocking reads, writes and sessions on a real 3-member etcd cluster on loopback: a
 * member is SIGKILLed (the leader, or the follower the client is connected to) and restarted after
 * each case. How fast it goes is measured in `pnpm bench kv-etcd` (failover figures), not here.
 * Also etcd's request size limit.
 */

import { isP2Error } from '@p2/errors';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KvErrorCodes } from './errors.js';
import { EtcdStore } from './etcd.js';
import {
  type EtcdCluster,
  type EtcdMember,
  isRunning,
  leaderOf,
  startEtcd,
} from './etcd-test-support.js';

let cluster: EtcdCluster;
// etcd3 picks members in a random order; in this file the last endpoint is tried first, so a test
// can put a client on the member it is about to kill (etcd3's switch for tests).
let pool: { deterministicOrder: boolean };

beforeAll(async () => {
  ({ ConnectionPool: pool } = await import('etcd3/lib/connection-pool.js'));
  pool.deterministicOrder = true;
  cluster = await startEtcd(3);
}, 40_000);
afterEach(async () => {
  for (const member of cluster.members) if (!isRunning(member)) await cluster.restart(member);
}, 30_000);
afterAll(async () => {
  if (pool) pool.deterministicOrder = false;
  await cluster?.stop();
});

let prefixes = 0;
/** A store on its own root prefix whose first-tried member is `first`. */
function storeOn(first: EtcdMember, options: { prefix?: string } = {}): EtcdStore {
  const endpoints = [
    ...cluster.members.filter((m) => m !== first).map((m) => `127.0.0.1:${m.clientPort}`),
    `127.0.0.1:${first.clientPort}`,
  ];
  return new EtcdStore({
    endpoints,
    prefix: options.prefix ?? `p2t-failover-${process.pid}-${prefixes++}/`,
    minSessionTtlMs: 2_000,
  });
}

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

async function blockedGetSeesWriteAfterKill(victim: EtcdMember, watcherOn: EtcdMember) {
  const writerOn = cluster.members.find((m) => m !== victim) as EtcdMember;
  const watcher = storeOn(watcherOn);
  const writer = storeOn(writerOn, { prefix: (watcher as unknown as { root: string }).root });
  try {
    await writer.put('intent/node1/app', 'v1');
    const before = await watcher.get('intent/node1/app');
    // The wait is far longer than the test's timeout: only the write can end it.
    const blocked = watcher.get('intent/node1/app', { index: before.index, waitMs: 600_000 });
    await new Promise((r) => setTimeout(r, 300)); // the watch is established on `watcherOn`
    await cluster.kill(victim);
    await writer.put('intent/node1/app', 'v2');
    const after = await blocked;
    expect(text(after.value?.value)).toBe('v2');
    expect(after.index).toBeGreaterThan(before.index);
    // A new blocked read after the failover works too (the watch moved to a live member).
    const next = watcher.get('intent/node1/app', { index: after.index, waitMs: 600_000 });
    await writer.put('intent/node1/app', 'v3');
    expect(text((await next).value?.value)).toBe('v3');
  } finally {
    await Promise.all([watcher.close(), writer.close()]);
  }
}

describe('etcd failover: a member is SIGKILLed', () => {
  it('the leader (the watcher is on it): a blocked get wakes with a write made through the survivors', async () => {
    const leader = await leaderOf(cluster);
    await blockedGetSeesWriteAfterKill(leader, leader);
    expect(await leaderOf(cluster)).not.toBe(leader);
  }, 30_000);

  it('the follower the watcher is connected to: the blocked get moves to a live member and wakes', async () => {
    const leader = await leaderOf(cluster);
    const follower = cluster.members.find((m) => m !== leader) as EtcdMember;
    await blockedGetSeesWriteAfterKill(follower, follower);
  }, 30_000);

  it('a session renews through a live member right after the member it used died, without a gap', async () => {
    for (const which of ['leader', 'follower'] as const) {
      const leader = await leaderOf(cluster);
      const victim =
        which === 'leader' ? leader : (cluster.members.find((m) => m !== leader) as EtcdMember);
      const store = storeOn(victim);
      try {
        const id = await store.createSession({ ttlMs: 4_000, behavior: 'delete', lockDelayMs: 0 });
        expect(await store.acquire('health/node1/app', 'healthy', id)).toBe(true);
        expect(await store.renewSession(id)).toBeDefined(); // the keep-alive went to `victim`
        await cluster.kill(victim);
        // The first renewal after the kill succeeds: the lease lives in the cluster.
        const renewed = await store.renewSession(id);
        expect(renewed?.id, which).toBe(id);
        expect((await store.get('health/node1/app')).value?.session, which).toBe(id);
        await store.destroySession(id);
        expect((await store.get('health/node1/app')).value).toBeUndefined();
      } finally {
        await store.close();
      }
      await cluster.restart(victim);
    }
  }, 40_000);
});

describe("etcd's request size limit", () => {
  it('a 2 MiB manifest is refused before it is sent, naming the key and the limit', async () => {
    const store = storeOn(cluster.members[0] as EtcdMember);
    try {
      const error = await store
        .put('intent/node1/big', 'x'.repeat(2 * 1024 * 1024))
        .catch((e: unknown) => e);
      expect(isP2Error(error, KvErrorCodes.VALUE_TOO_LARGE), String(error)).toBe(true);
      expect((error as Error).message).toContain('"intent/node1/big"');
      expect((error as Error).message).toContain('524288');
    } finally {
      await store.close();
    }
  });

  it('a txn over --max-request-bytes (4 values of 500 KiB) is P2_KV_TXN_TOO_LARGE naming its keys, not a gRPC code', async () => {
    const store = storeOn(cluster.members[0] as EtcdMember);
    try {
      const value = 'x'.repeat(500 * 1024);
      const error = await store
        .txn([0, 1, 2, 3].map((i) => ({ verb: 'set', key: `intent/node${i}/app`, value })))
        .catch((e: unknown) => e);
      expect(isP2Error(error, KvErrorCodes.TXN_TOO_LARGE), String(error)).toBe(true);
      const message = (error as Error).message;
      expect(message).toContain('"intent/node0/app"');
      expect(message).toContain('--max-request-bytes');
      expect(message).not.toMatch(/GRPC|RESOURCE_EXHAUSTED/i);
      // Nothing was written.
      expect((await store.list('intent/')).value).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
