/**
 * etcd failover, measured the way the preparer sees it: a `watchPrefix` (the intent watch) on one
 * `EtcdStore`, a writer (the CLI) on another, a real 3-member loopback cluster. Each round SIGKILLs a
 * member (alternately the leader and a follower), writes through the survivors, and records the time
 * from the kill, and from the survivors naming a leader again (etcd's maintenance status), to the
 * watch yielding the write. The baseline is the same round without a kill.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdStore, type EtcdStoreOptions, watchPrefix } from '@p2/kv';
import {
  type EtcdCluster,
  type EtcdMember,
  leaderOf,
} from '../../packages/kv/src/etcd-test-support.js';
import { type Sample, summarize } from './harness.js';

export interface FailoverFigures {
  /** Write → the watch yields it, no kill. */
  baseline: Sample;
  /** Kill → the watch yields the write made through the survivors. */
  fromKill: Sample;
  /** Survivors name a leader (at once for a follower kill) → the watch yields the write. */
  fromElection: Sample;
  /** Kill → survivors name a leader (0 for a follower kill). */
  election: Sample;
}

/** Puts until the store acknowledges (the CLI's user retries an unavailable store). */
async function putThrough(store: EtcdStore, key: string, value: string): Promise<void> {
  for (;;) {
    try {
      await store.put(key, value);
      return;
    } catch {
      await sleep(20);
    }
  }
}

/** Runs `rounds` kill rounds (and as many baseline rounds) on `cluster`. */
export async function measureFailover(
  cluster: EtcdCluster,
  rounds: number,
  storeOptions: Omit<EtcdStoreOptions, 'endpoints'> = {},
): Promise<FailoverFigures> {
  const prefix = `bench/failover/${Date.now()}/`;
  const writer = new EtcdStore({ ...storeOptions, endpoints: cluster.endpoints });
  const watcher = new EtcdStore({ ...storeOptions, endpoints: cluster.endpoints });
  const stop = new AbortController();
  let seen = -1;
  const waiters = new Map<number, () => void>();
  const watch = (async () => {
    for await (const { value } of watchPrefix(watcher, prefix, { signal: stop.signal })) {
      const text = value[0] ? new TextDecoder().decode(value[0].value) : '';
      const n = text === '' ? -1 : Number(text);
      if (n > seen) seen = n;
      for (const [k, wake] of waiters) if (k <= seen) wake();
    }
  })();
  const sawWrite = (n: number) =>
    new Promise<void>((resolve) => {
      if (seen >= n) resolve();
      else waiters.set(n, resolve);
    });
  const baseline: number[] = [];
  const fromKill: number[] = [];
  const fromElection: number[] = [];
  const election: number[] = [];
  let n = 0;
  try {
    await putThrough(writer, `${prefix}k`, String(n));
    await sawWrite(n);
    for (let round = 0; round < rounds; round++) {
      await sleep(300); // the watch is blocked again
      n++;
      const started = performance.now();
      await putThrough(writer, `${prefix}k`, String(n));
      await sawWrite(n);
      baseline.push(performance.now() - started);

      const leader = await leaderOf(cluster);
      const victim: EtcdMember =
        round % 2 === 0 ? leader : (cluster.members.find((m) => m !== leader) as EtcdMember);
      await sleep(300);
      n++;
      const killedAt = performance.now();
      await cluster.kill(victim);
      const elected = leaderOf(cluster, { except: victim, pollMs: 10 }).then(() =>
        victim === leader ? performance.now() : killedAt,
      );
      await putThrough(writer, `${prefix}k`, String(n));
      await sawWrite(n);
      const wokeAt = performance.now();
      const electedAt = await elected;
      fromKill.push(wokeAt - killedAt);
      fromElection.push(wokeAt - electedAt);
      election.push(electedAt - killedAt);
      await cluster.restart(victim);
    }
  } finally {
    stop.abort();
    await watch.catch(() => {});
    await Promise.all([writer.close(), watcher.close()]);
  }
  return {
    baseline: summarize('no kill: write → watch wakes', baseline),
    fromKill: summarize('member SIGKILLed: kill → watch wakes', fromKill),
    fromElection: summarize('member SIGKILLed: leader known → watch wakes', fromElection),
    election: summarize('member SIGKILLed: kill → survivors name a leader', election),
  };
}
