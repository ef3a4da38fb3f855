/**
 * Consul's KV transaction evaluated over an abstract key space: every verb's check, Consul's error
 * texts and the result entries, as pure functions. Whoever holds the data (p2-kv-server's in-memory
 * state, the etcd backend's snapshot read at one revision) supplies a {@link TxnKeySpace} and
 * commits the {@link TxnOutcome.writes} its own way.
 */
import type { TxnVerb } from './verbs.js';

/**
 * A KV entry as the evaluator sees it. The value and flags are carried, never inspected, so each
 * caller keeps its own representation (`Buffer | null` and a uint64 string in p2-kv-server,
 * `Uint8Array` and a number in the etcd backend).
 */
export interface TxnEntry<V, F> {
  key: string;
  value: V;
  flags: F;
  /** The session holding the key's lock; `''` when nobody holds it. */
  session: string;
  lockIndex: number;
  createIndex: number;
  modifyIndex: number;
}

/**
 * One KV operation of a transaction, with every field present (Consul's zero values where the
 * verb does not use one: `index` 0, `session` `''`).
 */
export interface TxnOperation<V, F> {
  /** A verb of {@link TXN_VERBS}; any other string fails with `unknown KV verb "…"`. */
  verb: TxnVerb;
  /** The key, or the prefix for `get-tree` / `delete-tree`. */
  key: string;
  value: V;
  flags: F;
  /** The expected ModifyIndex of `cas`, `delete-cas`, `check-index` (0 for `cas`: must not exist). */
  index: number;
  /** The session of `lock`, `unlock`, `check-session`. */
  session: string;
}

/** The key space a transaction reads, as it was before the transaction began. */
export interface TxnKeySpace<V, F> {
  /** The entry stored at `key`, if any. */
  get(key: string): TxnEntry<V, F> | undefined;
  /** Every stored key starting with `prefix`, in any order. */
  keysUnder(prefix: string): Iterable<string>;
  /** Whether the session exists (is neither expired nor destroyed). */
  sessionExists(id: string): boolean;
  /** Whether a lock-delay still forbids other sessions to acquire `key`. */
  lockDelayed(key: string): boolean;
}

/** Options of {@link evaluateTxn}. */
export interface TxnEvaluateOptions<V> {
  /**
   * The ModifyIndex every write of the transaction gets (Consul writes them all at one Raft index),
   * and the CreateIndex of keys it creates. A placeholder the caller replaces after committing works
   * too.
   */
  writeIndex: number;
  /**
   * When given, a write that leaves the value (equal by this test), flags, session and LockIndex as
   * they were keeps the entry as it is, ModifyIndex included, as Consul does from 1.6 on.
   * @default every write makes a new entry (Consul before 1.6)
   */
  sameValue?: (a: V, b: V) => boolean;
}

/** One result entry, in operation order. */
export interface TxnResultEntry<V, F> {
  entry: TxnEntry<V, F>;
  /** Whether Consul prints the value (only `get`, `get-or-empty`, `get-tree`; others print `null`). */
  withValue: boolean;
}

/** A failing operation, as Consul reports it in `Errors`. */
export interface TxnOpError {
  opIndex: number;
  /** Consul's text, e.g. `failed to set key "k", index is stale`. */
  what: string;
}

/** What a transaction does: its results, or every failing operation. */
export interface TxnOutcome<V, F> {
  /** One per operation that yields an entry (`get-tree`: one per key); empty when rolled back. */
  results: TxnResultEntry<V, F>[];
  /** Every failing operation in ascending order; empty when the transaction commits. */
  errors: TxnOpError[];
  /**
   * The final state of every key an operation wrote, or deleted while it existed, in the order they
   * were first touched: the new entry, or `null` when it ends deleted. An entry that is the key
   * space's own object (see `sameValue`) is unchanged. Empty when rolled back.
   */
  writes: Map<string, TxnEntry<V, F> | null>;
}

/**
 * Evaluates a Consul KV transaction: the operations run in order (later ones see earlier ones'
 * writes), every failing one is reported with Consul's error text, and either all writes count or
 * none does. Nothing is written to the key space: the caller commits {@link TxnOutcome.writes}.
 *
 * @example
 * ```ts
 * const outcome = evaluateTxn(space, [
 *   { verb: 'cas', key: 'k', value: 'v', flags: 0, index: 0, session: '' },
 * ], { writeIndex: 8 });
 * // key k exists → outcome.errors: [{ opIndex: 0, what: 'failed to set key "k", index is stale' }]
 * ```
 */
export function evaluateTxn<V, F>(
  space: TxnKeySpace<V, F>,
  ops: readonly TxnOperation<V, F>[],
  options: TxnEvaluateOptions<V>,
): TxnOutcome<V, F> {
  const next = options.writeIndex;
  const overlay = new Map<string, TxnEntry<V, F> | null>();
  const results: TxnResultEntry<V, F>[] = [];
  const errors: TxnOpError[] = [];

  const read = (key: string): TxnEntry<V, F> | undefined =>
    overlay.has(key) ? (overlay.get(key) ?? undefined) : space.get(key);
  const treeKeys = (prefix: string): string[] => {
    const keys = new Set(space.keysUnder(prefix));
    for (const key of overlay.keys()) if (key.startsWith(prefix)) keys.add(key);
    return [...keys].filter((key) => read(key) !== undefined).sort();
  };
  const unchanged = (a: TxnEntry<V, F>, b: TxnEntry<V, F>): boolean =>
    options.sameValue !== undefined &&
    a.flags === b.flags &&
    a.session === b.session &&
    a.lockIndex === b.lockIndex &&
    options.sameValue(a.value, b.value);
  const write = (entry: TxnEntry<V, F>): void => {
    const old = read(entry.key);
    const kept = old && unchanged(old, entry) ? old : entry;
    overlay.set(entry.key, kept);
    results.push({ entry: kept, withValue: false });
  };
  /** A set/cas/lock/unlock result: the op's value and flags, the rest as given. */
  const written = (
    op: TxnOperation<V, F>,
    current: TxnEntry<V, F> | undefined,
    session: string,
    lockIndex: number,
  ): TxnEntry<V, F> => ({
    key: op.key,
    value: op.value,
    flags: op.flags,
    session,
    lockIndex,
    createIndex: current?.createIndex ?? next,
    modifyIndex: next,
  });

  /** Runs one operation; returns Consul's error text when it fails. */
  const evaluateOne = (op: TxnOperation<V, F>): string | undefined => {
    const current = read(op.key);
    const k = JSON.stringify(op.key);
    switch (op.verb) {
      case 'set':
        write(written(op, current, current?.session ?? '', current?.lockIndex ?? 0));
        return;
      case 'cas': {
        const ok = op.index === 0 ? !current : current?.modifyIndex === op.index;
        if (!ok) return `failed to set key ${k}, index is stale`;
        write(written(op, current, current?.session ?? '', current?.lockIndex ?? 0));
        return;
      }
      case 'lock': {
        if (op.session === '') return 'missing session';
        if (!space.sessionExists(op.session))
          return `invalid session ${JSON.stringify(op.session)}`;
        if (current && current.session !== '' && current.session !== op.session) {
          return `failed to lock key ${k}, lock is already held`;
        }
        const reacquire = current?.session === op.session;
        if (!reacquire && space.lockDelayed(op.key)) {
          return `failed to lock key ${k} due to lock delay`;
        }
        const lockIndex = (current?.lockIndex ?? 0) + (reacquire ? 0 : 1);
        write(written(op, current, op.session, lockIndex));
        return;
      }
      case 'unlock':
        if (op.session === '') return 'missing session';
        if (!current || current.session !== op.session) {
          return `failed to unlock key ${k}, lock isn't held, or is held by another session`;
        }
        write(written(op, current, '', current.lockIndex));
        return;
      case 'get':
        if (!current) return `key ${k} doesn't exist`;
        results.push({ entry: current, withValue: true });
        return;
      case 'get-or-empty':
        if (current) results.push({ entry: current, withValue: true });
        return;
      case 'get-tree':
        for (const key of treeKeys(op.key)) {
          results.push({ entry: read(key) as TxnEntry<V, F>, withValue: true });
        }
        return;
      case 'check-index':
        if (!current) return `failed to check index, key ${k} doesn't exist`;
        if (current.modifyIndex !== op.index) {
          return `failed index check for key ${k}, current modify index ${current.modifyIndex} != ${op.index}`;
        }
        results.push({ entry: current, withValue: false });
        return;
      case 'check-session':
        if (!current) return `failed to check session, key ${k} doesn't exist`;
        if (current.session !== op.session) {
          return `failed session check for key ${k}, current session ${JSON.stringify(current.session)} != ${JSON.stringify(op.session)}`;
        }
        results.push({ entry: current, withValue: false });
        return;
      case 'check-not-exists':
        if (current) return `key ${k} exists`;
        return;
      case 'delete':
        if (current) overlay.set(op.key, null);
        return;
      case 'delete-tree':
        for (const key of treeKeys(op.key)) overlay.set(key, null);
        return;
      case 'delete-cas':
        if (!current) return;
        if (op.index === 0 || current.modifyIndex !== op.index) {
          return `failed to delete key ${k}, index is stale`;
        }
        overlay.set(op.key, null);
        return;
      default:
        return `unknown KV verb ${JSON.stringify(op.verb)}`;
    }
  };

  ops.forEach((op, opIndex) => {
    const what = evaluateOne(op);
    if (what !== undefined) errors.push({ opIndex, what });
  });
  if (errors.length > 0) return { results: [], errors, writes: new Map() };
  return { results, errors, writes: overlay };
}
