/** Keeps the README's opening example true. */
import { expect, it } from 'vitest';
import { evaluateTxn, type TxnEntry, type TxnKeySpace } from './index.js';

it('the README example gives what it says', () => {
  const stored = new Map<string, TxnEntry<string, number>>([
    [
      'k',
      {
        key: 'k',
        value: 'v1',
        flags: 0,
        session: '',
        lockIndex: 0,
        createIndex: 5,
        modifyIndex: 7,
      },
    ],
  ]);
  const space: TxnKeySpace<string, number> = {
    get: (key) => stored.get(key),
    keysUnder: (prefix) => [...stored.keys()].filter((key) => key.startsWith(prefix)),
    sessionExists: () => false,
    lockDelayed: () => false,
  };
  const op = { value: 'v2', flags: 0, index: 0, session: '' };

  expect(
    evaluateTxn(space, [{ ...op, verb: 'cas', key: 'k', index: 6 }], { writeIndex: 8 }).errors,
  ).toEqual([{ opIndex: 0, what: 'failed to set key "k", index is stale' }]);

  const outcome = evaluateTxn(space, [{ ...op, verb: 'cas', key: 'k', index: 7 }], {
    writeIndex: 8,
  });
  expect(outcome.writes.get('k')).toEqual({
    key: 'k',
    value: 'v2',
    flags: 0,
    session: '',
    lockIndex: 0,
    createIndex: 5,
    modifyIndex: 8,
  });
});
