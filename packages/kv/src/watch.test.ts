/**
 * The watch loop's index rules (spec 04 §3.L) driven by a scripted read function: these are rules of
 * the loop itself, so no server is needed to make an index go backwards or return 0.
 */
import { describe, expect, it } from 'vitest';
import { KvError, KvErrorCodes } from './errors.js';
import type { Indexed } from './types.js';
import { watchIndexed } from './watch.js';

function scripted(answers: (Indexed<string> | Error)[]) {
  const requested: number[] = [];
  const read = async (index: number): Promise<Indexed<string>> => {
    requested.push(index);
    const next = answers.shift();
    if (next === undefined) return new Promise(() => undefined); // blocks forever
    if (next instanceof Error) throw next;
    return next;
  };
  return { read, requested };
}

async function take<T>(iterable: AsyncGenerator<T>, count: number): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) {
    out.push(item);
    if (out.length === count) break;
  }
  return out;
}

describe('watchIndexed', () => {
  it('L1/L3 carries the index forward, skips unchanged answers, resets when the index goes backwards', async () => {
    const { read, requested } = scripted([
      { value: 'a', index: 10 },
      { value: 'a', index: 10 },
      { value: 'b', index: 12 },
      { value: 'restored', index: 3 },
      { value: 'c', index: 4 },
    ]);
    const seen = await take(watchIndexed(read, { minIntervalMs: 1 }), 4);
    expect(seen.map((s) => `${s.value}@${s.index}`)).toEqual(['a@10', 'b@12', 'restored@3', 'c@4']);
    expect(requested).toEqual([0, 10, 10, 12, 3]);
  });

  it('L2 an index of 0 is treated as 1, never sent back as 0', async () => {
    const { read, requested } = scripted([
      { value: 'zero', index: 0 },
      { value: 'next', index: 2 },
    ]);
    const seen = await take(watchIndexed(read, { minIntervalMs: 1 }), 2);
    expect(seen.map((s) => s.index)).toEqual([1, 2]);
    expect(requested).toEqual([0, 1]);
  });

  it('L4 retries transport errors with growing backoff and reports them; 400/403 end the watch', async () => {
    const unavailable = () => new KvError(KvErrorCodes.UNAVAILABLE, 'down');
    const { read } = scripted([
      unavailable(),
      unavailable(),
      unavailable(),
      { value: 'up', index: 5 },
    ]);
    const errors: unknown[] = [];
    const started = Date.now();
    const seen = await take(
      watchIndexed(read, { backoffBaseMs: 40, minIntervalMs: 1, onError: (e) => errors.push(e) }),
      1,
    );
    expect(seen[0]?.value).toBe('up');
    expect(errors).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual((40 + 80 + 160) / 2 - 5);

    const denied = scripted([new KvError(KvErrorCodes.PERMISSION_DENIED, 'no token')]);
    await expect(take(watchIndexed(denied.read), 1)).rejects.toThrow('no token');
  });

  it('L5 rate-limits a store that answers instantly with new indexes (burst 2, then the interval)', async () => {
    let index = 1;
    const read = async () => ({ value: 'x', index: ++index });
    const started = Date.now();
    await take(watchIndexed(read, { minIntervalMs: 50 }), 6);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 50 - 10);
  });

  it('stops at once when aborted while blocked', async () => {
    const controller = new AbortController();
    const read = (_index: number, _wait: number, signal: AbortSignal) =>
      new Promise<Indexed<string>>((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    const done = take(watchIndexed(read, { signal: controller.signal }), 1);
    setTimeout(() => controller.abort(), 20);
    expect(await done).toEqual([]);
  });
});
