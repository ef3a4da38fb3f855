import { idFromKey, labelTypePrefix } from '@p2/keyspace';
import { type KvEntry, MAX_TXN_OPS, type Store, sleep, type TxnOp, type TxnResult } from '@p2/kv';
import { type Logger, pino } from 'pino';
import { RcError, RcErrorCode } from './errors.js';

/** A pino logger that drops everything (the default of every controller). */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * A store failure as `P2_RC_STORE`, saying what was being done; an `RcError` passes through.
 *
 * @example throw storeError(`reading ${key}`, cause);
 */
export function storeError(what: string, cause: unknown): RcError {
  if (cause instanceof RcError) return cause;
  return new RcError(
    RcErrorCode.STORE,
    `${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
    {
      cause,
    },
  );
}

/**
 * The `P2_RC_CONFLICT` of a delegated-signing write whose record changed between signing and the
 * write (keyspace's `signForWrite`): `what` names the record, `hint` what to do again.
 *
 * @example changedWhileSigning('daemon set ds1', 'sign it again')
 */
export function changedWhileSigning(what: string, hint: string): RcError {
  return new RcError(RcErrorCode.CONFLICT, `${what} changed while being signed`, { hint });
}

/**
 * Reads every controller record under `prefix` (`<prefix><id>`; deeper keys are skipped) with
 * `decode`. A record that does not decode goes to `errors` instead, so one bad record hides no
 * other.
 *
 * @throws RcError `P2_RC_STORE`
 * @example const { records } = await listRecords(store, Prefix.rolls, decodeRoll);
 */
export async function listRecords<R>(
  store: Store,
  prefix: string,
  decode: (value: Uint8Array, key: string) => R,
): Promise<{ records: R[]; errors: unknown[] }> {
  let entries: KvEntry[];
  try {
    entries = (await store.list(prefix)).value;
  } catch (cause) {
    throw storeError(`listing ${prefix}`, cause);
  }
  const records: R[] = [];
  const errors: unknown[] = [];
  for (const e of entries) {
    if (idFromKey(prefix, e.key) === undefined) continue;
    try {
      records.push(decode(e.value, e.key));
    } catch (error) {
      errors.push(error);
    }
  }
  return { records, errors };
}

/** Commits one transaction; a rollback becomes `P2_RC_TXN_ROLLED_BACK` naming what failed. */
export async function commit(store: Store, ops: readonly TxnOp[], what: string): Promise<void> {
  if (ops.length === 0) return;
  if (ops.length > MAX_TXN_OPS) {
    throw new RcError(
      RcErrorCode.INVALID_REQUEST,
      `${what}: ${ops.length} ops exceed the ${MAX_TXN_OPS}-op transaction limit`,
    );
  }
  let result: TxnResult;
  try {
    result = await store.txn(ops);
  } catch (cause) {
    throw storeError(what, cause);
  }
  if (!result.committed) {
    throw new RcError(
      RcErrorCode.TXN_ROLLED_BACK,
      `${what}: the transaction was rolled back (${result.errors.map((e) => `op ${e.opIndex} ${ops[e.opIndex]?.verb ?? ''} ${ops[e.opIndex]?.key ?? ''}: ${e.what}`).join('; ')})`,
      { details: { errors: result.errors } },
    );
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (`@p2/kv`'s). */
export { sleep };

/** Byte-order comparison. */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Where a worker's blocking reads stand. */
export interface WatchState {
  record: number;
  nodes: number;
  /** A further prefix whose changes wake the worker (a daemon set's pod health while it replaces). */
  extra?: { prefix: string; index: number } | undefined;
  /**
   * How long to let changes under `extra` gather after the first one before the pass reads the
   * record: a fleet-wide replacement reports thousands of health changes, one pass each would
   * re-read every node's intent and reality thousands of times. @default 0
   */
  extraSettleMs?: number;
}

/**
 * Blocks until the record at `key`, any node label record or (when set) a key under
 * `state.extra.prefix` changes, or `waitMs` passes; returns the record (undefined when deleted). Node label changes matter because eligibility follows them
 * (P2's RC worker only noticed at its next timeout).
 */
export async function waitForRecordOrNodes(
  store: Store,
  key: string,
  state: WatchState,
  waitMs: number,
  signal: AbortSignal,
): Promise<KvEntry | undefined> {
  const local = new AbortController();
  const onAbort = () => local.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const record = store
      .get(key, { index: state.record, waitMs, signal: local.signal })
      .then((r) => ({ which: 'record' as const, r }));
    const nodes = store
      .keys(labelTypePrefix('node'), { index: state.nodes, waitMs, signal: local.signal })
      .then((r) => ({ which: 'nodes' as const, r }));
    const extra = state.extra;
    const more = extra
      ? store
          .keys(extra.prefix, { index: extra.index, waitMs, signal: local.signal })
          .then((r) => ({ which: 'extra' as const, r }))
      : new Promise<never>(() => {});
    record.catch(() => undefined);
    nodes.catch(() => undefined);
    more.catch(() => undefined);
    const first = await Promise.race([record, nodes, more]);
    local.abort();
    if (first.which === 'record') {
      state.record = first.r.index < state.record ? 0 : first.r.index;
      return first.r.value;
    }
    if (first.which === 'extra' && extra) {
      extra.index = first.r.index < extra.index ? 0 : first.r.index;
      // What changes meanwhile is seen by this pass (and the next wait starts from its index).
      if (state.extraSettleMs) await sleep(state.extraSettleMs, signal);
    } else state.nodes = first.r.index < state.nodes ? 0 : first.r.index;
    const now = await store.get(key, { signal });
    state.record = now.index;
    return now.value;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
