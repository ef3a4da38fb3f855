/**
 * The etcd backend against one real etcd 3.4 member on loopback: the shared conformance suite,
 * plus the etcd-specific behaviour (URL selection, envelope, compaction, credentials, emulations).
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from './backend.js';
import { defineStoreConformance, waitFor } from './conformance.js';
import { KvErrorCodes } from './errors.js';
import { EtcdStore } from './etcd.js';
import { KNOWN_SESSIONS_MAX } from './etcd-sessions.js';
import { type EtcdCluster, startEtcd } from './etcd-test-support.js';

let etcd: EtcdCluster;
let run = 0;

beforeAll(async () => {
  etcd = await startEtcd(1);
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

/** Every test gets its own root prefix on the shared member: an empty store without a restart. */
function freshStore(extra: Partial<ConstructorParameters<typeof EtcdStore>[0]> = {}) {
  return new EtcdStore({
    endpoints: etcd.endpoints,
    prefix: `p2t-${process.pid}-${++run}/`,
    minSessionTtlMs: 2_000,
    ...extra,
  });
}

defineStoreConformance('etcd backend → real etcd 3.4 (1 member)', async () => {
  const store = freshStore();
  return {
    store,
    capabilities: {
      // etcd writes a new revision for every put, even a byte-identical one (spec 04 §5.1).
      idempotentWrites: false,
      // A lease that expires deletes its keys: `release` is only honoured on destroySession.
      releaseBehavior: false,
      // etcd's minimum lease TTL (granted as 2 s with the default election timeout).
      minSessionTtlMs: 2_000,
      // Lock-delay is emulated for destroyed sessions (the F10/F11 case), not for expired leases.
      lockDelay: true,
      reapTombstones: () => reapTombstones(store),
    },
  };
});

/** gRPC calls the member has started, by method (its Prometheus metrics). */
async function grpcCalls(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${etcd.endpoints[0]}/metrics`)).text();
  const calls = new Map<string, number>();
  for (const m of text.matchAll(
    /^grpc_server_started_total\{[^}]*grpc_method="(\w+)"[^}]*\} (\S+)$/gm,
  ))
    calls.set(m[1] ?? '', (calls.get(m[1] ?? '') ?? 0) + Number(m[2]));
  return calls;
}

async function reapTombstones(store: EtcdStore): Promise<void> {
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
  const prefix = (store as unknown as { root: string }).root;
  await client.delete().prefix(`${prefix}tomb/`).exec();
  client.close();
}

describe('conformance cases etcd cannot hold (stated, not silent)', () => {
  it.skip('C7 a byte-identical write keeps ModifyIndex — etcd makes a new revision for every put', () => {});
  it.skip('E14 (release half) an expired `release` session keeps its keys — lease expiry always deletes them on etcd', () => {});
  it.skip('lock-delay after a TTL expiry — etcd expires leases server-side, no client sees it in time to write the delay', () => {});
});

describe('etcd backend specifics', () => {
  it('createStore selects etcd for etcd:// with several endpoints and a prefix', async () => {
    const store = createStore(`etcd://${etcd.endpoints[0]},127.0.0.1:1/p2t-url-${run++}`);
    try {
      expect(store).toBeInstanceOf(EtcdStore);
      expect(store.description).toContain('127.0.0.1:1');
      await store.put('a/b', 'via-url');
      const { value } = await store.get('a/b');
      expect(new TextDecoder().decode(value?.value)).toBe('via-url');
    } finally {
      await store.close();
    }
  });

  it('credentials in the URL never show in the description or errors', async () => {
    const store = createStore('etcd://alice:s3cret@127.0.0.1:1?x=1', {});
    try {
      expect(store.description).not.toContain('s3cret');
      const error = await store.get('k').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isP2Error(error, KvErrorCodes.UNAVAILABLE)).toBe(true);
      expect(String((error as Error).message)).not.toContain('s3cret');
    } finally {
      await store.close();
    }
  }, 20_000);

  it('a bad endpoint or unreadable CA file is a P2_KV_BAD_OPTIONS error', () => {
    expect(() => new EtcdStore({ endpoints: ['not a host'] })).toThrow(/host:port/);
    expect(() => new EtcdStore({ tlsCaFile: '/nonexistent/ca.pem' })).toThrow(/CA file/);
  });

  it('index = etcd revision: ModifyIndex is the mod_revision, a txn shares one revision', async () => {
    const store = freshStore();
    try {
      await store.put('x', '1');
      const a = (await store.get('x')).value;
      await store.put('y', '2');
      const b = (await store.get('y')).value;
      expect(b?.modifyIndex).toBe((a?.modifyIndex ?? 0) + 1);
    } finally {
      await store.close();
    }
  });

  it('several ops on one key in one txn (etcd forbids duplicate keys) collapse to the final state', async () => {
    const store = freshStore();
    try {
      const s = await store.createSession({ lockDelayMs: 0 });
      const result = await store.txn([
        { verb: 'set', key: 'dup', value: 'one' },
        { verb: 'set', key: 'dup', value: 'two' },
        { verb: 'lock', key: 'dup', value: 'three', session: s },
        { verb: 'get', key: 'dup' },
        { verb: 'delete', key: 'gone' },
        { verb: 'set', key: 'gone', value: 'back' },
      ]);
      expect(result.committed).toBe(true);
      const entry = (await store.get('dup')).value;
      expect(new TextDecoder().decode(entry?.value)).toBe('three');
      expect(entry?.session).toBe(s);
      if (result.committed) expect(result.results.at(-2)?.modifyIndex).toBe(entry?.modifyIndex);
    } finally {
      await store.close();
    }
  });

  it('a blocking get whose start revision was compacted answers at once with the current value', async () => {
    const store = freshStore();
    const { Etcd3 } = await import('etcd3');
    const client = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    try {
      await store.put('c', '1');
      const first = await store.get('c');
      await store.put('c', '2');
      await store.put('c', '3');
      const now = (await store.get('c')).index;
      await client.kv.compact({ revision: now, physical: true });
      const started = Date.now();
      const answer = await store.get('c', { index: first.index, waitMs: 10_000 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(new TextDecoder().decode(answer.value?.value)).toBe('3');
    } finally {
      client.close();
      await store.close();
    }
  });

  it('an expired lease deletes locked keys and a blocking list sees it (no tombstone needed)', async () => {
    const store = freshStore();
    try {
      const s = await store.createSession({ ttlMs: 2_000, behavior: 'delete', lockDelayMs: 0 });
      await store.put('exp/keep', 'k');
      expect(await store.acquire('exp/lock', 'x', s)).toBe(true);
      const { index } = await store.list('exp/');
      const answer = await store.list('exp/', { index, waitMs: 10_000 });
      expect(answer.value.map((e) => e.key)).toEqual(['exp/keep']);
      expect(answer.index).toBeGreaterThan(index);
    } finally {
      await store.close();
    }
  }, 15_000);

  it('destroying a `release` session keeps its keys, unlocked', async () => {
    const store = freshStore();
    try {
      const s = await store.createSession({ behavior: 'release', lockDelayMs: 0 });
      expect(await store.acquire('rel', 'kept', s)).toBe(true);
      await store.destroySession(s);
      const entry = (await store.get('rel')).value;
      expect(entry?.session).toBeUndefined();
      expect(new TextDecoder().decode(entry?.value)).toBe('kept');
      expect(entry?.lockIndex).toBe(1);
      await waitFor(async () => (await store.sessionInfo(s)) === undefined, 2_000);
    } finally {
      await store.close();
    }
  });

  it('a renewal is one keep-alive, and still sees a session destroyed or expired elsewhere', async () => {
    const prefix = `p2t-${process.pid}-${++run}/`;
    const mine = freshStore({ prefix });
    const other = freshStore({ prefix });
    try {
      const destroyed = await mine.createSession({ ttlMs: 10_000, lockDelayMs: 0 });
      const expiring = await mine.createSession({ ttlMs: 2_000, lockDelayMs: 0 });
      const before = await grpcCalls();
      const renewed = await mine.renewSession(destroyed);
      const after = await grpcCalls();
      expect(renewed?.id).toBe(destroyed);
      expect((after.get('Range') ?? 0) - (before.get('Range') ?? 0)).toBe(0);
      expect((after.get('LeaseKeepAlive') ?? 0) - (before.get('LeaseKeepAlive') ?? 0)).toBe(1);
      // The same record as a read gives (createIndex included), without the read.
      expect(renewed).toEqual(await other.sessionInfo(destroyed));
      // Another client destroys it: the lease is revoked, and the renewal says the session is gone.
      await other.destroySession(destroyed);
      expect(await mine.renewSession(destroyed)).toBeUndefined();
      // Its lease runs out: the same.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      expect(await mine.renewSession(expiring)).toBeUndefined();
      // A session this client never saw is read first, then renewed.
      const theirs = await other.createSession({ ttlMs: 10_000, lockDelayMs: 0 });
      expect((await mine.renewSession(theirs))?.id).toBe(theirs);
    } finally {
      await mine.close();
      await other.close();
    }
  }, 20_000);

  it('keeps at most KNOWN_SESSIONS_MAX session records: the least recently renewed is read again', async () => {
    const store = freshStore();
    try {
      const ids: string[] = [];
      for (let i = 0; i < KNOWN_SESSIONS_MAX + 2; i++)
        ids.push(await store.createSession({ ttlMs: 10_000, lockDelayMs: 0 }));
      const first = ids[0] ?? '';
      const last = ids[ids.length - 1] ?? '';
      const ranges = async (renew: () => Promise<unknown>) => {
        const before = (await grpcCalls()).get('Range') ?? 0;
        await renew();
        return ((await grpcCalls()).get('Range') ?? 0) - before;
      };
      // The newest is known: one keep-alive. The first was pushed out: its record is read first.
      expect(await ranges(() => store.renewSession(last))).toBe(0);
      expect(await ranges(() => store.renewSession(first))).toBe(1);
      // Renewed, it is the most recent one: known again; the oldest known then (the third
      // created) went instead.
      expect(await ranges(() => store.renewSession(first))).toBe(0);
      expect(await ranges(() => store.renewSession(ids[2] ?? ''))).toBe(1);
    } finally {
      await store.close();
    }
  }, 60_000);

  /** Busy-waits `ms` on this thread: a loaded process's event loop. */
  function busy(ms: number): void {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // busy
    }
  }

  /**
   * Runs `call` against a member frozen for its first 150 ms (thawed by a process of its own), while
   * this process's loop is blocked for 1 s from 50 ms on: the answer waits unread past a 300 ms
   * deadline. Blocked in the check phase, the loop's next turn starts with the expired timer, and
   * only then reads the socket.
   */
  async function answeredWhileBlocked<T>(call: () => Promise<T>): Promise<T> {
    const member = etcd.members[0];
    const pid = member?.process?.pid ?? 0;
    member?.process?.kill('SIGSTOP');
    try {
      await waitFor(() => {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
      }, 2_000);
      spawn('sh', ['-c', `sleep 0.15; kill -CONT ${pid}`], { stdio: 'ignore' });
      const pending = call();
      const blocked = new Promise<void>((resolve) =>
        setTimeout(
          () =>
            setImmediate(() => {
              busy(1_000);
              resolve();
            }),
          50,
        ),
      );
      try {
        return await pending;
      } finally {
        await blocked;
      }
    } finally {
      member?.process?.kill('SIGCONT');
    }
  }

  it('a keep-alive answered while the event loop was blocked past its timeout counts as answered', async () => {
    const store = freshStore({ attemptTimeoutMs: 300 });
    try {
      const id = await store.createSession({ ttlMs: 10_000, lockDelayMs: 0 });
      await store.renewSession(id); // the connection is up
      const before = await grpcCalls();
      const renewed = await answeredWhileBlocked(() => store.renewSession(id));
      expect(renewed?.id).toBe(id);
      const after = await grpcCalls();
      // One keep-alive stream: the timeout did not win over the answer, cancel it and retry.
      expect((after.get('LeaseKeepAlive') ?? 0) - (before.get('LeaseKeepAlive') ?? 0)).toBe(1);
    } finally {
      await store.close();
    }
  }, 20_000);

  it('a call answered while a lagging process was blocked past its attempt deadline is not retried', async () => {
    const store = freshStore({ attemptTimeoutMs: 300 });
    try {
      await store.put('lag', 'kept'); // the connection is up
      // This process has been lagging: its loop was blocked 1.2 s a moment ago.
      await new Promise((resolve) => setTimeout(resolve, 100));
      busy(1_200);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const before = await grpcCalls();
      const entry = (await answeredWhileBlocked(() => store.get('lag'))).value;
      expect(new TextDecoder().decode(entry?.value)).toBe('kept');
      const after = await grpcCalls();
      // One Range: the deadline, 300 ms plus the recent lag, did not cancel the answered attempt
      // (without the lag: 2 or more, the retry after the member's circuit closed again).
      expect((after.get('Range') ?? 0) - (before.get('Range') ?? 0)).toBe(1);
    } finally {
      await store.close();
    }
  }, 20_000);

  it('values written by other etcd clients (no envelope) read as plain entries', async () => {
    const store = freshStore();
    const { Etcd3 } = await import('etcd3');
    const client = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    try {
      const root = (store as unknown as { root: string }).root;
      await client.put(`${root}kv/foreign`).value('raw bytes');
      const entry = (await store.get('foreign')).value;
      expect([new TextDecoder().decode(entry?.value), entry?.flags, entry?.session]).toEqual([
        'raw bytes',
        0,
        undefined,
      ]);
    } finally {
      client.close();
      await store.close();
    }
  });

  it('tombstones survive their lease being revoked from outside (a new lease is granted)', async () => {
    const store = freshStore();
    const { Etcd3 } = await import('etcd3');
    const client = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    try {
      await store.put('t/a', '1');
      await store.put('t/b', '1');
      await store.delete('t/a');
      const lease = (store as unknown as { tombLease: { id: string } }).tombLease.id;
      await client.leaseClient.leaseRevoke({ ID: lease });
      await store.delete('t/b');
      await store.put('t/c', '1');
      await store.txn([{ verb: 'delete', key: 't/c' }]);
      const { value, index } = await store.list('t/');
      expect(value).toEqual([]);
      expect(index).toBeGreaterThan(0);
      expect((store as unknown as { tombLease: { id: string } }).tombLease.id).not.toBe(lease);
    } finally {
      client.close();
      await store.close();
    }
  });

  it('a blocking get on an unreachable cluster ends with P2_KV_UNAVAILABLE, not a hang', async () => {
    const store = new EtcdStore({ endpoints: ['127.0.0.1:1'], dialTimeoutMs: 500 });
    try {
      const started = Date.now();
      const error = await store.get('k', { index: 5, waitMs: 300 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isP2Error(error, KvErrorCodes.UNAVAILABLE), String(error)).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await store.close();
    }
  }, 20_000);

  it('a frozen member (SIGSTOP) makes calls fail after the request timeout instead of hanging', async () => {
    const store = freshStore({ requestTimeoutMs: 300 });
    const member = etcd.members[0];
    try {
      await store.put('frozen', '1');
      member?.process?.kill('SIGSTOP');
      // Wait until the kernel reports the process stopped (state T), so no request slips through.
      await waitFor(() => {
        const stat = readFileSync(`/proc/${member?.process?.pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
      }, 2_000);
      const started = Date.now();
      const error = await store.get('frozen').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isP2Error(error, KvErrorCodes.UNAVAILABLE), String(error)).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      member?.process?.kill('SIGCONT');
      await store.close();
    }
  }, 20_000);

  it('a put with a stale revision guess (another client wrote or locked the key) keeps the holder', async () => {
    const a = freshStore();
    const prefix = (a as unknown as { root: string }).root;
    const b = new EtcdStore({ endpoints: etcd.endpoints, prefix });
    try {
      await a.put('shared', 'a1');
      await b.put('shared', 'b1');
      const session = await b.createSession({ lockDelayMs: 0, behavior: 'delete' });
      expect(await b.acquire('shared', 'b-locked', session)).toBe(true);
      await a.put('shared', 'a2', { flags: 3 }); // a's guess is two writes old
      const entry = (await a.get('shared')).value;
      expect([new TextDecoder().decode(entry?.value), entry?.flags, entry?.session]).toEqual([
        'a2',
        3,
        session,
      ]);
      expect(entry?.lockIndex).toBe(1);
      await b.destroySession(session);
      expect((await a.get('shared')).value).toBeUndefined(); // still on the lease: released with it
    } finally {
      await a.close();
      await b.close();
    }
  });
});
