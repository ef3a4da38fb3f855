/**
 * The in-memory state machine: KV entries, tombstones, sessions and the shared index.
 *
 * Every mutation is first computed as an {@link Effect} (what changes, at which index) without
 * touching the state, then applied with {@link State.apply}. Replaying the on-disk log calls the same
 * `apply`, so a restarted server rebuilds exactly the state it acknowledged.
 */
import { randomUUID } from 'node:crypto';
import {
  evaluateTxn,
  type TxnEntry,
  type TxnKeySpace,
  type TxnOpError,
  type TxnOperation,
  type TxnResultEntry,
} from '@p2/consul-txn';

/**
 * One KV entry. `flags` is a decimal uint64 string (JSON numbers lose precision above 2^53);
 * `session` is `''` when the key is not locked.
 */
export type Entry = TxnEntry<Buffer | null, string>;

/** A session as stored. `lockDelayNs` is already capped at 60 s. */
export interface Session {
  id: string;
  name: string;
  node: string;
  lockDelayNs: number;
  behavior: 'release' | 'delete';
  ttl: string;
  ttlMs: number;
  nodeChecks: string[];
  serviceChecks: { ID: string; Namespace?: string }[];
  createIndex: number;
  modifyIndex: number;
}

/** `[key, base64 value | null, flags, session, lockIndex, createIndex, modifyIndex]` */
type EntryRecord = [string, string | null, string, string, number, number, number];

/** One durable change: everything written at index `i`. */
export interface Effect {
  i: number;
  put?: EntryRecord[];
  del?: string[];
  sput?: Session[];
  sdel?: string[];
  /** Reap tombstones whose index is ≤ this. Does not move any index. */
  reap?: number;
}

/** A full copy of the state, written on compaction. */
export interface Snapshot {
  version: 1;
  index: number;
  kvIndex: number;
  entries: EntryRecord[];
  tombstones: [string, number][];
  sessions: Session[];
}

const EMPTY = Buffer.alloc(0);

/** Maximum lock-delay Consul honours. */
export const MAX_LOCK_DELAY_MS = 60_000;

/** One KV operation, already decoded from the wire. */
export type KvOp = TxnOperation<Buffer | null, string>;

/** A transaction's results or errors, and the effect to apply when it commits. */
export interface TxnOutcome {
  /** Result entries (with or without value), in op order. */
  results: TxnResultEntry<Buffer | null, string>[];
  errors: TxnOpError[];
  /** What to apply when every op passed and something changed. */
  effect: Effect | undefined;
}

function entryToRecord(e: Entry): EntryRecord {
  return [
    e.key,
    e.value === null ? null : e.value.toString('base64'),
    e.flags,
    e.session,
    e.lockIndex,
    e.createIndex,
    e.modifyIndex,
  ];
}

function recordToEntry(r: EntryRecord): Entry {
  return {
    key: r[0],
    value: r[1] === null ? null : Buffer.from(r[1], 'base64'),
    flags: r[2],
    session: r[3],
    lockIndex: r[4],
    createIndex: r[5],
    modifyIndex: r[6],
  };
}

/** Consul treats a missing value and an empty one alike. */
function sameValue(a: Buffer | null, b: Buffer | null): boolean {
  return (a ?? EMPTY).equals(b ?? EMPTY);
}

/** The state machine. Single-threaded; all methods are synchronous. */
export class State {
  /** Starts at 1, like a fresh Consul whose Raft log already holds its bootstrap entry: the first write gets 2, above the "never 0" floor of 1. */
  index = 1;
  kvIndex = 0;
  sessionIndex = 0;
  readonly entries = new Map<string, Entry>();
  /** Keys in ascending order (UTF-16 code unit order = byte order for the ASCII keys p2 uses). */
  readonly sortedKeys: string[] = [];
  readonly tombstones = new Map<string, number>();
  readonly sessions = new Map<string, Session>();
  /** key → wall-clock ms until which acquisitions are refused. In memory only, as in Consul. */
  readonly lockDelays = new Map<string, number>();
  private readonly heldBy = new Map<string, Set<string>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Forgets everything (before the state is loaded again from disk). Lock-delays are kept. */
  reset(): void {
    this.index = 1;
    this.kvIndex = 0;
    this.sessionIndex = 0;
    this.entries.clear();
    this.sortedKeys.length = 0;
    this.tombstones.clear();
    this.sessions.clear();
    this.heldBy.clear();
  }

  // ---- reads ------------------------------------------------------------------------------

  private lowerBound(prefix: string): number {
    let lo = 0;
    let hi = this.sortedKeys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sortedKeys[mid] as string) < prefix) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entries whose key starts with `prefix`, in key order. */
  list(prefix: string): Entry[] {
    const out: Entry[] = [];
    for (let i = this.lowerBound(prefix); i < this.sortedKeys.length; i++) {
      const key = this.sortedKeys[i] as string;
      if (!key.startsWith(prefix)) break;
      out.push(this.entries.get(key) as Entry);
    }
    return out;
  }

  /** The newest tombstone index under `prefix` (0 when none). */
  tombstoneIndex(prefix: string, exact = false): number {
    if (exact) return this.tombstones.get(prefix) ?? 0;
    let max = 0;
    for (const [key, index] of this.tombstones) {
      if (index > max && key.startsWith(prefix)) max = index;
    }
    return max;
  }

  /** The KV table index as Consul reports it: never 0. */
  kvTableIndex(): number {
    return Math.max(1, this.kvIndex);
  }

  // ---- apply --------------------------------------------------------------------------------

  private track(entry: Entry | undefined, add: boolean): void {
    if (!entry || entry.session === '') return;
    let keys = this.heldBy.get(entry.session);
    if (add) {
      if (!keys) {
        keys = new Set();
        this.heldBy.set(entry.session, keys);
      }
      keys.add(entry.key);
    } else if (keys) {
      keys.delete(entry.key);
      if (keys.size === 0) this.heldBy.delete(entry.session);
    }
  }

  /** Applies an effect (live or during replay). */
  apply(effect: Effect): void {
    let kvChanged = false;
    for (const record of effect.put ?? []) {
      const entry = recordToEntry(record);
      const old = this.entries.get(entry.key);
      if (!old) {
        this.sortedKeys.splice(this.lowerBound(entry.key), 0, entry.key);
      }
      this.track(old, false);
      this.entries.set(entry.key, entry);
      this.track(entry, true);
      this.tombstones.delete(entry.key);
      kvChanged = true;
    }
    for (const key of effect.del ?? []) {
      const old = this.entries.get(key);
      if (old) {
        this.track(old, false);
        this.entries.delete(key);
        const at = this.lowerBound(key);
        if (this.sortedKeys[at] === key) this.sortedKeys.splice(at, 1);
      }
      this.tombstones.set(key, effect.i);
      kvChanged = true;
    }
    for (const session of effect.sput ?? []) {
      this.sessions.set(session.id, session);
      this.sessionIndex = Math.max(this.sessionIndex, effect.i);
    }
    for (const id of effect.sdel ?? []) {
      this.sessions.delete(id);
      this.sessionIndex = Math.max(this.sessionIndex, effect.i);
    }
    if (effect.reap !== undefined) {
      for (const [key, index] of this.tombstones) {
        if (index <= effect.reap) this.tombstones.delete(key);
      }
    }
    this.index = Math.max(this.index, effect.i);
    if (kvChanged) this.kvIndex = Math.max(this.kvIndex, effect.i);
  }

  snapshot(): Snapshot {
    return {
      version: 1,
      index: this.index,
      kvIndex: this.kvIndex,
      entries: this.sortedKeys.map((key) => entryToRecord(this.entries.get(key) as Entry)),
      tombstones: [...this.tombstones],
      sessions: [...this.sessions.values()],
    };
  }

  restore(snapshot: Snapshot): void {
    this.apply({
      i: snapshot.index,
      put: snapshot.entries,
      sput: snapshot.sessions,
    });
    for (const [key, index] of snapshot.tombstones) this.tombstones.set(key, index);
    this.index = snapshot.index;
    this.kvIndex = snapshot.kvIndex;
  }

  // ---- transactions ---------------------------------------------------------------------------

  /** Keys currently held by a session. */
  keysHeldBy(sessionId: string): string[] {
    return [...(this.heldBy.get(sessionId) ?? [])];
  }

  private lockDelayed(key: string): boolean {
    const until = this.lockDelays.get(key);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.lockDelays.delete(key);
      return false;
    }
    return true;
  }

  /**
   * Evaluates operations in order with Consul's semantics (`@p2/consul-txn`); later ops see earlier
   * ones. When all pass and something changed, returns the effect to apply; otherwise no effect.
   */
  evaluate(ops: KvOp[]): TxnOutcome {
    const next = this.index + 1;
    const space: TxnKeySpace<Buffer | null, string> = {
      get: (key) => this.entries.get(key),
      keysUnder: (prefix) => this.list(prefix).map((e) => e.key),
      sessionExists: (id) => this.sessions.has(id),
      lockDelayed: (key) => this.lockDelayed(key),
    };
    const { results, errors, writes } = evaluateTxn(space, ops, { writeIndex: next, sameValue });
    if (errors.length > 0) return { results: [], errors, effect: undefined };
    const put: EntryRecord[] = [];
    const del: string[] = [];
    for (const [key, entry] of writes) {
      const old = this.entries.get(key);
      if (entry === null) {
        if (old) del.push(key);
      } else if (entry !== old) {
        put.push(entryToRecord(entry));
      }
    }
    const effect = put.length + del.length > 0 ? { i: next, put, del } : undefined;
    return { results, errors, effect };
  }

  // ---- sessions -------------------------------------------------------------------------------

  /** The effect of creating a session (validated by the caller). */
  createSession(fields: Omit<Session, 'id' | 'createIndex' | 'modifyIndex'>): Effect {
    const next = this.index + 1;
    let id = randomUUID();
    while (this.sessions.has(id)) id = randomUUID();
    return { i: next, sput: [{ ...fields, id, createIndex: next, modifyIndex: next }] };
  }

  /**
   * The effect of invalidating a session (destroy or TTL expiry): its keys are released or deleted,
   * and each gets the session's lock-delay (applied here, in memory, as Consul does).
   */
  invalidateSession(id: string): Effect | undefined {
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const next = this.index + 1;
    const put: EntryRecord[] = [];
    const del: string[] = [];
    const delayMs = Math.min(session.lockDelayNs / 1e6, MAX_LOCK_DELAY_MS);
    for (const key of this.keysHeldBy(id)) {
      const entry = this.entries.get(key);
      if (!entry) continue;
      if (delayMs > 0) this.lockDelays.set(key, this.now() + delayMs);
      if (session.behavior === 'delete') del.push(key);
      else put.push(entryToRecord({ ...entry, session: '', modifyIndex: next }));
    }
    return { i: next, put, del, sdel: [id] };
  }
}
