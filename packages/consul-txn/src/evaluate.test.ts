import { describe, expect, it } from 'vitest';
import {
  evaluateTxn,
  isTreeVerb,
  isTxnVerb,
  isWriteVerb,
  TXN_VERBS,
  type TxnEntry,
  type TxnKeySpace,
  type TxnOperation,
  type TxnVerb,
} from './index.js';

type Entry = TxnEntry<string, number>;

function entry(key: string, fields: Partial<Entry> = {}): Entry {
  return {
    key,
    value: `${key}-value`,
    flags: 0,
    session: '',
    lockIndex: 0,
    createIndex: 3,
    modifyIndex: 5,
    ...fields,
  };
}

function space(
  entries: Entry[],
  sessions: string[] = [],
  delayed: string[] = [],
): TxnKeySpace<string, number> {
  const map = new Map(entries.map((e) => [e.key, e]));
  return {
    get: (key) => map.get(key),
    keysUnder: (prefix) => [...map.keys()].filter((key) => key.startsWith(prefix)),
    sessionExists: (id) => sessions.includes(id),
    lockDelayed: (key) => delayed.includes(key),
  };
}

function op(
  verb: TxnVerb,
  key: string,
  fields: Partial<TxnOperation<string, number>> = {},
): TxnOperation<string, number> {
  return { verb, key, value: 'new', flags: 0, index: 0, session: '', ...fields };
}

const at = { writeIndex: 9 };

describe('verbs', () => {
  it('classifies every Consul verb', () => {
    expect(TXN_VERBS).toHaveLength(13);
    expect(isTxnVerb('get-or-empty')).toBe(true);
    expect(isTxnVerb('put')).toBe(false);
    expect(TXN_VERBS.filter(isWriteVerb)).toEqual([
      'set',
      'cas',
      'lock',
      'unlock',
      'delete',
      'delete-tree',
      'delete-cas',
    ]);
    expect(TXN_VERBS.filter(isTreeVerb)).toEqual(['get-tree', 'delete-tree']);
  });
});

describe('evaluateTxn', () => {
  it('set keeps the lock holder and LockIndex, and writes at writeIndex', () => {
    const s = space([entry('k', { session: 's1', lockIndex: 2 })]);
    const out = evaluateTxn(s, [op('set', 'k', { flags: 7 }), op('set', 'n')], at);
    expect(out.errors).toEqual([]);
    expect(out.writes.get('k')).toEqual({
      key: 'k',
      value: 'new',
      flags: 7,
      session: 's1',
      lockIndex: 2,
      createIndex: 3,
      modifyIndex: 9,
    });
    expect(out.writes.get('n')).toMatchObject({ createIndex: 9, modifyIndex: 9, lockIndex: 0 });
    expect(out.results.map((r) => [r.entry.key, r.withValue])).toEqual([
      ['k', false],
      ['n', false],
    ]);
  });

  it('cas: 0 means absent, otherwise the ModifyIndex', () => {
    const s = space([entry('k')]);
    expect(evaluateTxn(s, [op('cas', 'k', { index: 5 })], at).errors).toEqual([]);
    expect(evaluateTxn(s, [op('cas', 'n', { index: 0 })], at).errors).toEqual([]);
    expect(
      evaluateTxn(s, [op('cas', 'k', { index: 0 }), op('cas', 'k', { index: 4 })], at),
    ).toMatchObject({
      results: [],
      errors: [
        { opIndex: 0, what: 'failed to set key "k", index is stale' },
        { opIndex: 1, what: 'failed to set key "k", index is stale' },
      ],
    });
  });

  it('lock and unlock: sessions, holders, lock-delay, LockIndex', () => {
    const s = space(
      [entry('held', { session: 's2', lockIndex: 1 }), entry('free')],
      ['s1', 's2'],
      ['delayed'],
    );
    const failed = evaluateTxn(
      s,
      [
        op('lock', 'a'),
        op('lock', 'a', { session: 'gone' }),
        op('lock', 'held', { session: 's1' }),
        op('lock', 'delayed', { session: 's1' }),
        op('unlock', 'held', { session: 's1' }),
        op('unlock', 'held'),
      ],
      at,
    );
    expect(failed.errors).toEqual([
      { opIndex: 0, what: 'missing session' },
      { opIndex: 1, what: 'invalid session "gone"' },
      { opIndex: 2, what: 'failed to lock key "held", lock is already held' },
      { opIndex: 3, what: 'failed to lock key "delayed" due to lock delay' },
      {
        opIndex: 4,
        what: 'failed to unlock key "held", lock isn\'t held, or is held by another session',
      },
      { opIndex: 5, what: 'missing session' },
    ]);

    const ok = evaluateTxn(
      s,
      [
        op('lock', 'free', { session: 's1' }),
        op('lock', 'free', { session: 's1' }),
        op('unlock', 'held', { session: 's2' }),
      ],
      at,
    );
    expect(ok.errors).toEqual([]);
    expect(ok.writes.get('free')).toMatchObject({ session: 's1', lockIndex: 1 });
    expect(ok.writes.get('held')).toMatchObject({ session: '', lockIndex: 1, createIndex: 3 });
  });

  it('reads and checks yield entries; only reads carry values', () => {
    const s = space([entry('a/1'), entry('a/2', { session: 's1' }), entry('b')], ['s1']);
    const out = evaluateTxn(
      s,
      [
        op('get', 'b'),
        op('get-or-empty', 'nope'),
        op('get-tree', 'a/'),
        op('check-index', 'b', { index: 5 }),
        op('check-session', 'a/2', { session: 's1' }),
        op('check-not-exists', 'nope'),
      ],
      at,
    );
    expect(out.results.map((r) => [r.entry.key, r.withValue])).toEqual([
      ['b', true],
      ['a/1', true],
      ['a/2', true],
      ['b', false],
      ['a/2', false],
    ]);
    expect(out.writes.size).toBe(0);
  });

  it('reports every failing check with Consul texts', () => {
    const s = space([entry('k', { session: 's1' })]);
    const out = evaluateTxn(
      s,
      [
        op('get', 'nope'),
        op('check-index', 'k', { index: 4 }),
        op('check-index', 'nope', { index: 4 }),
        op('check-session', 'k', { session: 's2' }),
        op('check-session', 'nope'),
        op('check-not-exists', 'k'),
        op('delete-cas', 'k', { index: 4 }),
        op('nonsense' as TxnVerb, 'k'),
      ],
      at,
    );
    expect(out.errors.map((e) => e.what)).toEqual([
      'key "nope" doesn\'t exist',
      'failed index check for key "k", current modify index 5 != 4',
      'failed to check index, key "nope" doesn\'t exist',
      'failed session check for key "k", current session "s1" != "s2"',
      'failed to check session, key "nope" doesn\'t exist',
      'key "k" exists',
      'failed to delete key "k", index is stale',
      'unknown KV verb "nonsense"',
    ]);
  });

  it('deletes yield no entries; later ops see earlier ones', () => {
    const s = space([entry('t/1'), entry('t/2'), entry('k')]);
    const out = evaluateTxn(
      s,
      [
        op('delete-tree', 't/'),
        op('set', 't/3'),
        op('get-tree', 't/'),
        op('delete-cas', 'k', { index: 5 }),
        op('delete-cas', 'absent', { index: 3 }),
        op('delete', 'absent'),
      ],
      at,
    );
    expect(out.errors).toEqual([]);
    expect([...out.writes]).toEqual([
      ['t/1', null],
      ['t/2', null],
      ['t/3', expect.objectContaining({ key: 't/3', modifyIndex: 9 })],
      ['k', null],
    ]);
    expect(out.results.map((r) => [r.entry.key, r.withValue])).toEqual([
      ['t/3', false],
      ['t/3', true],
    ]);
  });

  it('with sameValue, a write that changes nothing keeps the stored entry', () => {
    const stored = entry('k', { value: 'same' });
    const s = space([stored]);
    const options = { writeIndex: 9, sameValue: (a: string, b: string) => a === b };
    const out = evaluateTxn(s, [op('set', 'k', { value: 'same' })], options);
    expect(out.writes.get('k')).toBe(stored);
    expect(out.results[0]?.entry).toBe(stored);
    expect(evaluateTxn(s, [op('set', 'k', { value: 'same' })], at).writes.get('k')).not.toBe(
      stored,
    );
  });
});
