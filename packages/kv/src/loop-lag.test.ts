import { afterEach, describe, expect, it } from 'vitest';
import { attemptDeadlines } from './etcd-options.js';
import { recentLoopLagMs, useLoopLag } from './loop-lag.js';

const stops: Array<() => void> = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

describe('recentLoopLagMs', () => {
  it('is 0 while nothing measures, and the loop lag once something does', async () => {
    expect(recentLoopLagMs()).toBe(0);
    stops.push(useLoopLag());
    await tick(120);
    expect(recentLoopLagMs()).toBeLessThan(100);
    busy(400);
    await tick(120);
    const lag = recentLoopLagMs();
    expect(lag).toBeGreaterThanOrEqual(300);
    expect(lag).toBeLessThan(1_000);
  });

  it('stops measuring when its last user stops', async () => {
    const a = useLoopLag();
    const b = useLoopLag();
    await tick(120); // the first period only starts the measure
    busy(300);
    await tick(120);
    a();
    a(); // twice is once
    expect(recentLoopLagMs()).toBeGreaterThan(200);
    b();
    expect(recentLoopLagMs()).toBe(0);
  });
});

describe('attemptDeadlines', () => {
  const context = (params: object) =>
    ({ isStream: false, params, service: 'KV', method: 'range' }) as never;

  it('adds the recent lag to the first attempt, and to each doubled retry', () => {
    let lag = 0;
    const options = attemptDeadlines(1_000, 15_000, () => lag) as (c: never) => {
      deadline: number;
    };
    const start = Date.now();
    const first = options(context({ key: 'a' })).deadline - start;
    expect(first).toBeGreaterThanOrEqual(1_000);
    expect(first).toBeLessThan(1_050);
    lag = 2_000;
    const lagging = options(context({ key: 'b' })).deadline - start;
    expect(lagging).toBeGreaterThanOrEqual(3_000);
    expect(lagging).toBeLessThan(3_050);
  });

  it('a stream gets no deadline', () => {
    const options = attemptDeadlines(1_000, 15_000, () => 0) as (c: never) => object;
    expect(options({ isStream: true } as never)).toEqual({});
  });
});
