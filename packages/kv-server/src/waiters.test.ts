import { describe, expect, it } from 'vitest';
import { type Waiter, WaiterIndex } from './waiters.js';

const waiter = (prefix: string, exact = false, sessions = false): Waiter => ({
  prefix,
  exact,
  sessions,
  wake: () => {},
});

describe('WaiterIndex', () => {
  it('finds the waiters a commit concerns: exact keys, prefixes of any length, sessions', () => {
    const index = new WaiterIndex();
    const all = waiter('');
    const intent = waiter('intent/h1/');
    const intentOther = waiter('intent/h10/');
    const key = waiter('intent/h1/web', true);
    const keyOther = waiter('intent/h1/webx', true);
    const sessions = waiter('', false, true);
    for (const w of [all, intent, intentOther, key, keyOther, sessions]) index.add(w);
    expect(new Set(index.concerned(['intent/h1/web'], false))).toEqual(new Set([all, intent, key]));
    expect(new Set(index.concerned(['reality/h1/web'], true))).toEqual(new Set([all, sessions]));
    expect(index.concerned([], false)).toEqual([]);
    // A waiter is found once however many keys concern it.
    expect(index.concerned(['intent/h1/a', 'intent/h1/b'], false)).toHaveLength(2);
  });

  it('forgets deleted waiters, keeping the others of the same prefix', () => {
    const index = new WaiterIndex();
    const a = waiter('intent/h1/');
    const b = waiter('intent/h1/');
    const c = waiter('intent/h1/web', true);
    for (const w of [a, b, c]) index.add(w);
    index.delete(a);
    index.delete(a); // twice is harmless
    expect(index.has(a)).toBe(false);
    expect(new Set(index.concerned(['intent/h1/web'], false))).toEqual(new Set([b, c]));
    index.delete(b);
    index.delete(c);
    expect(index.concerned(['intent/h1/web'], false)).toEqual([]);
    expect(index.size).toBe(0);
    expect(index.values()).toEqual([]);
  });
});
