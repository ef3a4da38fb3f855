/** The backend-neutral store contract. Every backend (Consul over HTTP, later etcd) implements {@link Store}. */

/** One key/value entry, as Consul models it. */
export interface KvEntry {
  key: string;
  /** Raw bytes, exactly as stored. */
  value: Uint8Array;
  /** Opaque uint64 flags (P2 always writes 0). Numbers above 2^53 lose precision. */
  flags: number;
  /** The session holding the key's lock, or `undefined` when unlocked. */
  session: string | undefined;
  /** How many times the key was newly acquired. */
  lockIndex: number;
  createIndex: number;
  /** The index of the last change: the token for `cas`/`deleteCas`. */
  modifyIndex: number;
}

/** Options of every read. */
export interface ReadOptions {
  /** Blocking query: answer only once the result's index is above this (or `waitMs` passed). */
  index?: number;
  /** Longest wait of a blocking query. @default 30_000 */
  waitMs?: number;
  /** Ask for a consistent read (leader confirms with a quorum). */
  consistent?: boolean;
  signal?: AbortSignal;
}

/** Options of every write. */
export interface WriteOptions {
  signal?: AbortSignal;
}

/** A read answer plus the store index (`X-Consul-Index`, never 0). */
export interface Indexed<T> {
  value: T;
  index: number;
}

/** The transaction verbs P2 uses, plus the reads Consul offers. */
export type TxnOp =
  | { verb: 'set'; key: string; value: Uint8Array | string; flags?: number }
  | { verb: 'cas'; key: string; value: Uint8Array | string; index: number; flags?: number }
  | { verb: 'delete'; key: string }
  | { verb: 'delete-cas'; key: string; index: number }
  | { verb: 'delete-tree'; key: string }
  | { verb: 'lock'; key: string; value: Uint8Array | string; session: string; flags?: number }
  | { verb: 'unlock'; key: string; value: Uint8Array | string; session: string; flags?: number }
  | { verb: 'check-session'; key: string; session: string }
  | { verb: 'check-index'; key: string; index: number }
  | { verb: 'check-not-exists'; key: string }
  | { verb: 'get'; key: string }
  | { verb: 'get-tree'; key: string };

/** The outcome of a transaction: committed with results, or rolled back with every failing op. */
export type TxnResult =
  | { committed: true; results: KvEntry[] }
  | { committed: false; errors: { opIndex: number; what: string }[] };

/** Session creation options (Consul's `/v1/session/create`). */
export interface SessionOptions {
  name?: string;
  /** TTL in ms (0 = none). Consul accepts 10 s … 24 h. */
  ttlMs?: number;
  /** Lock-delay in ms after the session is invalidated. @default 15_000 (Consul's default) */
  lockDelayMs?: number;
  /** What happens to held keys when the session dies. @default 'release' (Consul's default) */
  behavior?: 'release' | 'delete';
  /** Keep the node's `serfHealth` check (Consul's default). P2 always creates sessions without checks. @default false */
  nodeChecks?: boolean;
  signal?: AbortSignal;
}

/** A session as the store reports it. */
export interface SessionInfo {
  id: string;
  name: string;
  node: string;
  behavior: 'release' | 'delete';
  /** The TTL the server wants honoured (may be larger than asked), in ms; 0 = none. */
  ttlMs: number;
  lockDelayMs: number;
  createIndex: number;
}

/**
 * The store contract p2 is built on. All methods reject with `KvError`.
 * Reads resolve with the store index so callers can CAS or block on it.
 */
export interface Store {
  /** One key (`undefined` when absent; the index is then the table index, never 0). */
  get(key: string, options?: ReadOptions): Promise<Indexed<KvEntry | undefined>>;
  /** Every key under a prefix, sorted by key; `[]` when none. */
  list(prefix: string, options?: ReadOptions): Promise<Indexed<KvEntry[]>>;
  /** Key names under a prefix; with a separator, keys are cut after its first occurrence past the prefix. */
  keys(prefix: string, options?: ReadOptions & { separator?: string }): Promise<Indexed<string[]>>;
  /** Unconditional write (keeps any lock holder). */
  put(
    key: string,
    value: Uint8Array | string,
    options?: WriteOptions & { flags?: number },
  ): Promise<void>;
  /** Write only if the key's ModifyIndex equals `index` (0 = only if absent). */
  cas(
    key: string,
    value: Uint8Array | string,
    index: number,
    options?: WriteOptions & { flags?: number },
  ): Promise<boolean>;
  /** Delete (a missing key is fine). */
  delete(key: string, options?: WriteOptions): Promise<void>;
  /** Delete only if ModifyIndex equals `index`; a missing key counts as success (Consul semantics). */
  deleteCas(key: string, index: number, options?: WriteOptions): Promise<boolean>;
  /** Delete every key under a prefix. */
  deleteTree(prefix: string, options?: WriteOptions): Promise<void>;
  /** Take the key's lock for a session, writing `value`. `false` when held by another or in lock-delay. */
  acquire(
    key: string,
    value: Uint8Array | string,
    session: string,
    options?: WriteOptions,
  ): Promise<boolean>;
  /** Release the key's lock held by `session`, writing `value`. */
  release(
    key: string,
    value: Uint8Array | string,
    session: string,
    options?: WriteOptions,
  ): Promise<boolean>;
  /** Run up to 64 operations atomically, in order. */
  txn(ops: readonly TxnOp[], options?: WriteOptions): Promise<TxnResult>;
  createSession(options?: SessionOptions): Promise<string>;
  /** Renew; `undefined` when the session no longer exists. */
  renewSession(id: string, options?: WriteOptions): Promise<SessionInfo | undefined>;
  /** Destroy (idempotent). Held keys are released or deleted, and get the session's lock-delay. */
  destroySession(id: string, options?: WriteOptions): Promise<void>;
  /** Session details; `undefined` when unknown. */
  sessionInfo(id: string, options?: ReadOptions): Promise<SessionInfo | undefined>;
  /** A human-readable address for messages (credentials redacted). */
  readonly description: string;
  /** Frees connections. */
  close(): Promise<void>;
}
