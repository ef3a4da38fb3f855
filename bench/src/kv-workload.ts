/** Workloads the store suites (`kv`, `kv-etcd`) run against every store they compare. */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '@p2/kv';
import { type Sample, summarize } from './harness.js';

/** Runs `fn(0)` … `fn(n - 1)` at once. */
export const parallel = <T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> =>
  Promise.all(Array.from({ length: n }, (_, i) => fn(i)));

/**
 * Watch fan-out: `watchers` blocking reads on distinct keys (`bench/watch/<i>`), then one write
 * each; the sample is the latency from starting a write to its watcher's answer.
 */
export async function watchFanOut(
  store: Store,
  label: string,
  watchers: number,
  waitMs: number,
): Promise<Sample> {
  for (let i = 0; i < watchers; i += 50) {
    await parallel(50, (j) => store.put(`bench/watch/${i + j}`, 'initial'));
  }
  const indexes = await parallel(
    watchers,
    async (i) => (await store.get(`bench/watch/${i}`)).index,
  );
  const started: number[] = [];
  const woke: number[] = [];
  const waits = indexes.map((index, i) =>
    store.get(`bench/watch/${i}`, { index, waitMs }).then(() => {
      woke[i] = performance.now();
    }),
  );
  await sleep(1000); // let every watcher block
  for (let i = 0; i < watchers; i++) {
    started[i] = performance.now();
    await store.put(`bench/watch/${i}`, 'changed');
  }
  await Promise.all(waits);
  return summarize(
    `${label}: ${watchers} watchers, write→wake`,
    woke.map((t, i) => t - (started[i] as number)),
  );
}
