import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WorkerPool } from './workers.js';

describe('WorkerPool', () => {
  it('never lets a slow pod delay another', async () => {
    const done: string[] = [];
    const pool = new WorkerPool<number>(async (key) => {
      if (key === 'slow') await sleep(300);
      done.push(key);
    });
    const start = Date.now();
    pool.dispatch('slow', 1);
    pool.dispatch('fast', 1);
    await sleep(50);
    expect(done).toEqual(['fast']);
    expect(Date.now() - start).toBeLessThan(250);
    await pool.drain();
    expect(done).toEqual(['fast', 'slow']);
  });

  it('keeps only the latest state for a busy worker', async () => {
    const seen: number[] = [];
    const pool = new WorkerPool<number>(async (_key, item) => {
      seen.push(item);
      await sleep(50);
    });
    pool.dispatch('a', 1);
    await sleep(5);
    pool.dispatch('a', 2);
    pool.dispatch('a', 3);
    pool.dispatch('a', 4);
    await pool.drain();
    expect(seen).toEqual([1, 4]);
  });

  it('retries failures with growing backoff and reports each failure', async () => {
    const attempts: number[] = [];
    const delays: number[] = [];
    const pool = new WorkerPool<string>(
      async () => {
        attempts.push(Date.now());
        if (attempts.length < 3) throw new Error('boom');
      },
      {
        initialMs: 20,
        maxMs: 1000,
        jitter: 0,
        onFailure: (_k, _i, _e, retryInMs) => delays.push(retryInMs),
      },
    );
    pool.dispatch('a', 'x');
    await sleep(10);
    await pool.drain();
    expect(attempts).toHaveLength(3);
    expect(delays).toEqual([20, 40]);
  });

  it('attempts a newer state at once instead of sleeping out the old backoff', async () => {
    const seen: string[] = [];
    const pool = new WorkerPool<string>(
      async (_k, item) => {
        seen.push(item);
        if (item === 'bad') throw new Error('bad');
      },
      { initialMs: 10_000, jitter: 0 },
    );
    pool.dispatch('a', 'bad');
    await sleep(20);
    const before = Date.now();
    pool.dispatch('a', 'good');
    await pool.drain();
    expect(seen).toEqual(['bad', 'good']);
    expect(Date.now() - before).toBeLessThan(1000);
  });

  it('close() stops retries', async () => {
    let attempts = 0;
    const pool = new WorkerPool<string>(
      async () => {
        attempts += 1;
        throw new Error('always');
      },
      { initialMs: 10, jitter: 0 },
    );
    pool.dispatch('a', 'x');
    await sleep(5);
    await pool.close();
    const after = attempts;
    await sleep(50);
    expect(attempts).toBe(after);
  });
});
