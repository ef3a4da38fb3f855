import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { IdleGc } from './idle-gc.js';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('IdleGc', () => {
  it('collects once, quietMs after the last activity of a burst', async () => {
    let runs = 0;
    const idle = new IdleGc({ quietMs: 60, gc: () => runs++ });
    idle.activity();
    for (let i = 0; i < 5; i++) {
      await tick(30);
      idle.activity(); // work keeps coming: nothing runs
    }
    expect(runs).toBe(0);
    await tick(120);
    expect([runs, idle.runs]).toEqual([1, 1]);
    await tick(120);
    expect(runs).toBe(1); // once per burst
    idle.activity();
    await tick(120);
    expect(runs).toBe(2);
  });

  it('does nothing without a gc, and stop cancels a pending collection', async () => {
    const off = new IdleGc({ quietMs: 10, gc: undefined });
    off.activity();
    expect(off.enabled).toBe(false);
    let runs = 0;
    const idle = new IdleGc({ quietMs: 30, gc: () => runs++ });
    idle.activity();
    idle.stop();
    await tick(80);
    expect(runs).toBe(0);
  });

  it("gives a grown heap back with node's own gc (as --expose-gc exposes it)", async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const idle = new IdleGc({ quietMs: 10, gc });
    // A burst's garbage: 60 MiB of short-lived objects, dropped.
    let junk: unknown[] | undefined = Array.from({ length: 600_000 }, (_, i) => ({
      i,
      s: `x${i}`,
    }));
    const grown = process.memoryUsage().heapTotal;
    junk = undefined;
    expect(junk).toBeUndefined();
    idle.activity();
    await tick(60);
    expect(idle.runs).toBe(1);
    expect(process.memoryUsage().heapTotal).toBeLessThan(grown - 20 * 2 ** 20);
  });
});
