/**
 * Consul's `/v1/txn` on etcd: read every key, prefix, session and lock-delay the ops touch at one
 * revision; evaluate the ops in order on that snapshot with Consul's semantics (`@p2/consul-txn`);
 * commit the final state of each touched key in one etcd txn guarded by `mod_revision` compares;
 * retry from the read when another writer got in between.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  evaluateTxn,
  isTreeVerb,
  type TxnEntry,
  type TxnKeySpace,
  type TxnOperation,
} from '@p2/consul-txn';
import type { Etcd3, ICompare, IRangeRequest, IRequestOp } from 'etcd3';
import { KvError, KvErrorCodes } from './errors.js';
import {
  decodeEntry,
  decodeSessionRecord,
  encodeEntry,
  type Loaded,
  prefixEnd,
  type SessionRecord,
} from './etcd-codec.js';
import { type EtcdConnection, MAX_ETCD_TXN_OPS } from './etcd-connection.js';
import { isLeaseNotFound, isRequestTooLarge, REQUEST_LIMIT_TEXT } from './etcd-errors.js';
import { assertValueSize, assertWritableKey, MAX_TXN_OPS, toBytes } from './keys.js';
import type { KvEntry, TxnOp, TxnResult } from './types.js';

/** The index of writes until etcd gives the revision they committed at. */
const PENDING = -1;
const empty = new Uint8Array(0);

type Entry = TxnEntry<Uint8Array, number>;

function toOperation(op: TxnOp): TxnOperation<Uint8Array, number> {
  return {
    verb: op.verb,
    key: op.key,
    value: 'value' in op ? toBytes(op.value) : empty,
    flags: 'flags' in op ? (op.flags ?? 0) : 0,
    index: 'index' in op ? op.index : 0,
    session: 'session' in op ? (op.session ?? '') : '',
  };
}

function toTxnEntry(entry: KvEntry): Entry {
  return { ...entry, session: entry.session ?? '' };
}

function fromTxnEntry(entry: Entry): KvEntry {
  return { ...entry, session: entry.session === '' ? undefined : entry.session };
}

/**
 * Runs a transaction, retrying on conflicts with other writers (up to 100 times).
 *
 * @throws KvError `P2_KV_TXN_TOO_LARGE`, `P2_KV_INVALID_KEY`, `P2_KV_VALUE_TOO_LARGE`,
 *   `P2_KV_CAS_FAILED` (the keys kept changing), and what an etcd call throws.
 */
export async function runEtcdTxn(
  conn: EtcdConnection,
  what: string,
  ops: readonly TxnOp[],
  signal: AbortSignal | undefined,
): Promise<TxnResult> {
  if (ops.length > MAX_TXN_OPS) {
    throw new KvError(
      KvErrorCodes.TXN_TOO_LARGE,
      `a transaction holds at most ${MAX_TXN_OPS} operations; got ${ops.length}`,
      { details: { ops: ops.length }, hint: 'split the work into several transactions' },
    );
  }
  for (const op of ops) {
    if (isTreeVerb(op.verb)) {
      if (op.key !== '') assertWritableKey(op.key);
    } else assertWritableKey(op.key);
    if ('value' in op) assertValueSize(op.key, toBytes(op.value));
  }
  for (let attempt = 0; ; attempt++) {
    const outcome = await attemptTxn(conn, what, ops, signal);
    if (outcome !== 'conflict') return outcome;
    if (attempt >= 100) {
      throw new KvError(
        KvErrorCodes.CAS_FAILED,
        `${what} on ${conn.description}: gave up after ${attempt + 1} attempts, the keys kept changing`,
        { hint: 'retry later; something writes these keys continuously' },
      );
    }
    if (attempt >= 2) await sleep(Math.random() * 5 * attempt);
  }
}

async function attemptTxn(
  conn: EtcdConnection,
  what: string,
  ops: readonly TxnOp[],
  signal: AbortSignal | undefined,
): Promise<TxnResult | 'conflict'> {
  const exactKeys = new Set<string>();
  const prefixes = new Set<string>();
  const sessionIds = new Set<string>();
  const lockKeys = new Set<string>();
  const treeDeletes = new Set<string>();
  for (const op of ops) {
    if (isTreeVerb(op.verb)) prefixes.add(op.key);
    else exactKeys.add(op.key);
    if ((op.verb === 'lock' || op.verb === 'check-session') && op.session) {
      sessionIds.add(op.session);
    }
    if (op.verb === 'lock') lockKeys.add(op.key);
    if (op.verb === 'delete-tree') treeDeletes.add(op.key);
  }
  // Read the snapshot.
  const requests: IRangeRequest[] = [];
  for (const key of exactKeys) requests.push({ key: conn.kvKey(key) });
  for (const prefix of prefixes) {
    const start = conn.kvKey(prefix);
    requests.push({ key: start, range_end: prefixEnd(start) });
  }
  for (const id of sessionIds) requests.push({ key: conn.metaKey('session', id) });
  for (const key of lockKeys) requests.push({ key: conn.metaKey('lockdelay', key) });
  const { revision, responses } = await conn.readAt(what, requests, signal);
  let at = 0;
  const snapshot = new Map<string, Loaded>();
  const exactMods = new Map<string, number>();
  for (const key of exactKeys) {
    const kv = responses[at++]?.kvs[0];
    exactMods.set(key, kv ? Number(kv.mod_revision) : 0);
    if (kv) snapshot.set(key, decodeEntry(key, kv));
  }
  for (const _ of prefixes) {
    for (const kv of responses[at++]?.kvs ?? []) {
      const key = conn.keyFromKv(kv);
      snapshot.set(key, decodeEntry(key, kv));
    }
  }
  const sessions = new Map<string, SessionRecord>();
  for (const id of sessionIds) {
    const kv = responses[at++]?.kvs[0];
    if (kv) sessions.set(id, decodeSessionRecord(kv));
  }
  const lockDelays = new Map<string, { mod: number; until: number }>();
  for (const key of lockKeys) {
    const kv = responses[at++]?.kvs[0];
    lockDelays.set(key, {
      mod: kv ? Number(kv.mod_revision) : 0,
      until: kv ? Number(kv.value.toString('utf8')) : 0,
    });
  }

  // Evaluate in order, with Consul's semantics.
  const base = new Map<string, Entry>();
  for (const [key, loaded] of snapshot) base.set(key, toTxnEntry(loaded.entry));
  const now = Date.now();
  const space: TxnKeySpace<Uint8Array, number> = {
    get: (key) => base.get(key),
    keysUnder: (prefix) => [...base.keys()].filter((key) => key.startsWith(prefix)),
    sessionExists: (id) => sessions.has(id),
    lockDelayed: (key) => (lockDelays.get(key)?.until ?? 0) > now,
  };
  const outcome = evaluateTxn(space, ops.map(toOperation), { writeIndex: PENDING });
  if (outcome.errors.length > 0) return { committed: false, errors: outcome.errors };
  const { writes } = outcome;
  const results: KvEntry[] = outcome.results.map(({ entry, withValue }) => ({
    ...fromTxnEntry(entry),
    value: withValue ? entry.value : empty,
  }));

  // Commit the final state of every touched key, guarded by the snapshot.
  const compare: ICompare[] = [];
  for (const [key, mod] of exactMods) {
    compare.push({ key: conn.kvKey(key), target: 'Mod', result: 'Equal', mod_revision: mod });
  }
  for (const prefix of prefixes) {
    for (const kind of ['kv', 'tomb'] as const) {
      const start = kind === 'kv' ? conn.kvKey(prefix) : conn.metaKey('tomb', prefix);
      compare.push({
        key: start,
        range_end: prefixEnd(start),
        target: 'Mod',
        result: 'Less',
        mod_revision: revision + 1,
      });
    }
  }
  for (const id of sessionIds) {
    if (sessions.has(id)) {
      compare.push({
        key: conn.metaKey('session', id),
        target: 'Version',
        result: 'Greater',
        version: 0,
      });
    }
  }
  for (const [key, delay] of lockDelays) {
    compare.push({
      key: conn.metaKey('lockdelay', key),
      target: 'Mod',
      result: 'Equal',
      mod_revision: delay.mod,
    });
  }
  if (writes.size === 0) {
    // Read-only: the snapshot is the answer.
    return { committed: true, results };
  }
  const client = await conn.client();
  const success: IRequestOp[] = [];
  let tombLease: string | undefined;
  for (const [key, written] of writes) {
    const entry = written && fromTxnEntry(written);
    const before = snapshot.get(key);
    if (!entry) {
      if (!before) continue;
      tombLease ??= await conn.call(what, signal, (c) => conn.tombstoneLease(c));
      success.push({ request_delete_range: { key: conn.kvKey(key) } });
      success.push({
        request_put: { key: conn.metaKey('tomb', key), value: Buffer.alloc(0), lease: tombLease },
      });
      continue;
    }
    const put: IRequestOp['request_put'] = { key: conn.kvKey(key), value: encodeEntry(entry) };
    if (entry.session) {
      if (before?.entry.session === entry.session && before.lease !== '0') {
        put.ignore_lease = true;
      } else {
        const record = sessions.get(entry.session);
        if (record) put.lease = record.lease;
        else put.ignore_lease = before !== undefined;
      }
    }
    success.push({ request_put: put });
  }
  if (treeDeletes.size > 0) {
    tombLease ??= await conn.call(what, signal, (c) => conn.tombstoneLease(c));
    for (const prefix of treeDeletes) {
      if (writes.get(prefix) === null) continue; // already tombstoned above
      success.push({
        request_put: {
          key: conn.metaKey('tomb', prefix),
          value: Buffer.alloc(0),
          lease: tombLease,
        },
      });
    }
  }
  if (success.length > MAX_ETCD_TXN_OPS || compare.length > MAX_ETCD_TXN_OPS) {
    throw new KvError(
      KvErrorCodes.TXN_TOO_LARGE,
      `${what} on ${conn.description} needs ${success.length} etcd writes and ${compare.length} compares; etcd allows ${MAX_ETCD_TXN_OPS} each`,
      { hint: 'split the transaction (delete-tree of many keys is the usual cause)' },
    );
  }
  if (success.length === 0) return { committed: true, results };
  if (signal?.aborted) throw conn.aborted(what, signal);
  let res: Awaited<ReturnType<Etcd3['kv']['txn']>>;
  try {
    res = await client.kv.txn({ compare, success, failure: [] });
  } catch (error) {
    if (conn.closed) throw conn.closedError(what);
    // A session lease that expired between the read and the commit.
    if (isLeaseNotFound(error)) {
      conn.forgetTombstoneLease(); // revoked from outside: grant a new one on the retry
      return 'conflict';
    }
    if (isRequestTooLarge(error)) throw tooLarge(conn, what, success, error);
    throw conn.convert(what, error);
  }
  if (!res.succeeded) return 'conflict';
  const committedAt = Number(res.header.revision);
  for (const entry of results) {
    if (entry.createIndex === PENDING) entry.createIndex = committedAt;
    if (entry.modifyIndex === PENDING) entry.modifyIndex = committedAt;
  }
  return { committed: true, results };
}

/** `P2_KV_TXN_TOO_LARGE` for a txn etcd refused by size, naming its biggest writes. */
function tooLarge(
  conn: EtcdConnection,
  what: string,
  success: IRequestOp[],
  cause: unknown,
): KvError {
  const kvPrefix = conn.kvPrefix;
  const writes = success
    .flatMap((op) => (op.request_put ? [op.request_put] : []))
    .map((put) => ({
      key: Buffer.from(put.key ?? '')
        .toString('utf8')
        .replace(kvPrefix, ''),
      bytes: Buffer.byteLength(put.key ?? '') + (put.value ? Buffer.byteLength(put.value) : 0),
    }))
    .sort((a, b) => b.bytes - a.bytes);
  const total = writes.reduce((sum, w) => sum + w.bytes, 0);
  const named = writes
    .slice(0, 3)
    .map((w) => `${JSON.stringify(w.key)} (${w.bytes} bytes)`)
    .join(', ');
  return new KvError(
    KvErrorCodes.TXN_TOO_LARGE,
    `${what} on ${conn.description} writes ${total} bytes (${named}${writes.length > 3 ? ', …' : ''}), over ${REQUEST_LIMIT_TEXT}`,
    {
      cause,
      details: { bytes: total, keys: writes.map((w) => w.key) },
      hint: 'split the transaction, or raise --max-request-bytes on every member',
    },
  );
}
