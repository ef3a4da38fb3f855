/**
 * The wall clock jumping (an operator's `date -s`, an NTP step) must not change how long the
 * client's loops wait: their intervals and deadlines use the monotonic clock. The jump is made for
 * real in this process only — `Date.now` is shifted, which is what a stepped system clock does to a
 * Node process (`performance.now` does not move) — because stepping the machine's clock would hit
 * every other process on it. The reads and renewals are scripted, like in watch.test.ts: these are
 * rules of the loops, so no server is needed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { manageSession } from './session.js';
import type { Indexed, Store } from './types.js';
import { watchIndexed } from './watch.js';

const realNow = Date.now;
afterEach(() => {
  Date.now = realNow;
});
/** Steps this process's wall clock by `ms` (negative: back). */
function jumpClock(ms: number): void {
  const before = Date.now;
  Date.now = () => before() + ms;
}

it('a watch keeps its pace when the clock is set back an hour (it used to sleep that hour)', async () => {
  let index = 1;
  const read = async (): Promise<Indexed<string>> => ({ value: 'x', index: ++index });
  const seen: number[] = [];
  const watch = watchIndexed(read, { minIntervalMs: 20 });
  for await (const item of watch) {
    seen.push(item.index);
    if (seen.length === 2) jumpClock(-3_600_000);
    if (seen.length === 6) break;
  }
  expect(seen).toEqual([2, 3, 4, 5, 6, 7]);
}, 5_000);

it('a session is not declared lost when the clock jumps forward past its TTL during a failed renewal', async () => {
  let renewals = 0;
  const store = {
    async renewSession() {
      renewals++;
      if (renewals === 2) {
        jumpClock(3_600_000); // an hour forward, while the store is briefly unreachable
        throw new Error('store unreachable');
      }
      return { ttlMs: 10_000 };
    },
    async destroySession() {},
  } as unknown as Store;
  const managed = manageSession(store, 's1', { ttlMs: 10_000, renewEveryMs: 20 });
  try {
    while (renewals < 5 && !managed.lost.aborted) await sleep(20);
    expect(managed.lost.aborted).toBe(false);
  } finally {
    await managed.destroy();
  }
});
