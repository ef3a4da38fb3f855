/**
 * Failover on a real 3-member etcd 3.4 cluster on loopback: the leader is SIGKILLed in the middle
 * of a stream of writes, a prefix watch and a held lock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStore } from './etcd.js';
import { type EtcdCluster, leaderOf, startEtcd } from './etcd-test-support.js';
import { acquireLock, startSession } from './session.js';
import { watchKey, watchPrefix } from './watch.js';

let cluster: EtcdCluster;

beforeAll(async () => {
  cluster = await startEtcd(3);
}, 40_000);
afterAll(async () => {
  await cluster?.stop();
});

const leader = () => leaderOf(cluster);

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

describe('etcd 3-member cluster: SIGKILL the leader mid-stream', () => {
  it('loses no acknowledged write, the watches see every change in order, the lock never has two owners', async () => {
    const writer = new EtcdStore({ endpoints: cluster.endpoints, minSessionTtlMs: 2_000 });
    const watcher = new EtcdStore({ endpoints: [...cluster.endpoints].reverse() });
    const contender = new EtcdStore({ endpoints: cluster.endpoints, minSessionTtlMs: 2_000 });
    const stop = new AbortController();
    try {
      // A lock held by `holder` through the failover; `rival` keeps trying to take it.
      const holder = await startSession(writer, {
        ttlMs: 6_000,
        behavior: 'delete',
        lockDelayMs: 0,
        renewEveryMs: 500,
      });
      const rival = await startSession(contender, {
        ttlMs: 6_000,
        behavior: 'delete',
        lockDelayMs: 0,
        renewEveryMs: 500,
      });
      const lock = await acquireLock(writer, 'lock/failover', { session: holder, value: 'holder' });
      let rivalWins = 0;
      let rivalAttempts = 0;
      const rivalLoop = (async () => {
        while (!stop.signal.aborted) {
          try {
            rivalAttempts++;
            if (await contender.acquire('lock/failover', 'rival', rival.id)) rivalWins++;
          } catch {
            // unavailable during the election: try again
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })();

      // Watches: every list of stream/ must be a gap-free prefix of the writes; the counter key
      // must only go up.
      const lists: number[] = [];
      const counters: number[] = [];
      let watchErrors = 0;
      const total = 150;
      const listWatch = (async () => {
        for await (const { value } of watchPrefix(watcher, 'stream/', {
          signal: stop.signal,
          waitMs: 2_000,
          minIntervalMs: 0,
          backoffBaseMs: 50,
          backoffMaxMs: 500,
          onError: () => watchErrors++,
        })) {
          const seen = value.map((e) => Number(e.key.slice('stream/'.length)));
          expect(seen).toEqual(seen.map((_, i) => i));
          lists.push(seen.length);
          if (seen.length === total) break;
        }
      })();
      const counterWatch = (async () => {
        for await (const { value } of watchKey(watcher, 'counter', {
          signal: stop.signal,
          waitMs: 2_000,
          minIntervalMs: 0,
          backoffBaseMs: 50,
          backoffMaxMs: 500,
          onError: () => watchErrors++,
        })) {
          if (value) counters.push(Number(text(value.value)));
          if (counters.at(-1) === total - 1) break;
        }
      })();

      const acknowledged: number[] = [];
      const failed: number[] = [];
      const killed = await leader();
      const started = Date.now();
      let slowestWriteMs = 0;
      for (let i = 0; i < total; i++) {
        if (i === 50) await cluster.kill(killed);
        const writeStarted = Date.now();
        try {
          await writer.txn([
            { verb: 'set', key: `stream/${String(i).padStart(4, '0')}`, value: String(i) },
            { verb: 'set', key: 'counter', value: String(i) },
          ]);
          acknowledged.push(i);
          slowestWriteMs = Math.max(slowestWriteMs, Date.now() - writeStarted);
        } catch {
          failed.push(i);
          i--; // the stream must stay gap-free for the watch: write it again
        }
        if (failed.length > 50) break;
      }
      const writeMs = Date.now() - started;
      await Promise.all([listWatch, counterWatch]);

      // No acknowledged write lost (read back through the surviving members).
      const { value: stored } = await writer.list('stream/', { consistent: true });
      expect(stored.map((e) => Number(text(e.value)))).toEqual(acknowledged);
      expect(acknowledged).toHaveLength(total);
      // The watches saw everything, in order.
      expect(lists.at(-1)).toBe(total);
      expect(lists).toEqual([...lists].sort((a, b) => a - b));
      expect(counters).toEqual([...counters].sort((a, b) => a - b));
      expect(counters.at(-1)).toBe(total - 1);
      // The lock stayed with its holder: never two owners.
      const newLeader = await leader();
      expect(newLeader).not.toBe(killed);
      expect(killed.process?.signalCode).toBe('SIGKILL');
      stop.abort();
      await rivalLoop;
      expect(rivalWins).toBe(0);
      expect(rivalAttempts).toBeGreaterThan(10);
      expect(lock.lost.aborted).toBe(false);
      expect((await writer.get('lock/failover')).value?.session).toBe(holder.id);
      await lock.release();
      expect(await contender.acquire('lock/failover', 'rival', rival.id)).toBe(true);
      console.info(
        `failover: ${total} writes in ${writeMs} ms (slowest ${slowestWriteMs} ms), ${failed.length} retried after an error, ` +
          `${lists.length} list wake-ups, ${counters.length} counter wake-ups, ${watchErrors} watch errors retried, ` +
          `${rivalAttempts} rival acquire attempts, 0 wins`,
      );
      await holder.destroy();
      await rival.destroy();
    } finally {
      stop.abort();
      await Promise.all([writer.close(), watcher.close(), contender.close()]);
    }
  }, 60_000);
});
