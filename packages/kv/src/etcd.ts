/**
 * The etcd v3 backend of the {@link Store} contract (spec 04 §5.2), over gRPC with the `etcd3`
 * package. `etcd3` (and with it gRPC) is loaded on first use, so Consul-only users pay nothing.
 *
 * Layout under the configured root prefix (default empty):
 * - `kv/<key>`: the entry, as an envelope `p2kv1 <flags> <lockIndex> <session|->\n<bytes>`; a locked
 *   key is attached to its session's lease.
 * - `session/<uuid>`: session metadata (JSON), attached to the session's lease.
 * - `lockdelay/<key>`: the lock-delay deadline (epoch ms) written when a session is destroyed.
 * - `tomb/<key or prefix>`: tombstones, so a prefix index does not go back after a delete (leased,
 *   reaped after `tombstoneTtlMs`, like Consul's tombstone GC).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { IKeyValue } from 'etcd3';
import { KvError, KvErrorCodes } from './errors.js';
import { blockingRead, type EtcdRange } from './etcd-blocking.js';
import { decodeEntry, encodeEntry, prefixEnd } from './etcd-codec.js';
import { EtcdConnection } from './etcd-connection.js';
import { isLeaseNotFound } from './etcd-errors.js';
import {
  type EtcdStoreOptions,
  type ResolvedEtcdOptions,
  resolveEtcdOptions,
} from './etcd-options.js';
import { EtcdSessions } from './etcd-sessions.js';
import { runEtcdTxn } from './etcd-txn.js';
import { assertValueSize, assertWritableKey, toBytes } from './keys.js';
import type {
  Indexed,
  KvEntry,
  ReadOptions,
  SessionInfo,
  SessionOptions,
  Store,
  TxnOp,
  TxnResult,
  WriteOptions,
} from './types.js';

export { type EtcdStoreOptions, etcdOptionsFromUrl } from './etcd-options.js';

/** A key's revision and the envelope fields a plain put must keep. */
interface Seen {
  mod: number;
  session: string | undefined;
  lockIndex: number;
}
const ABSENT: Seen = { mod: 0, session: undefined, lockIndex: 0 };

/**
 * A {@link Store} on etcd v3 (3.4+). Select it with `createStore('etcd://h1:2379,h2:2379')`.
 *
 * Consul semantics are emulated where etcd lacks them: flags, LockIndex and the lock holder live in
 * a value envelope; sessions are leases (TTL rounded up to whole seconds, ≥ 2 s); `release`
 * behaviour and lock-delay hold for sessions destroyed through this API but not for leases that
 * expire (etcd then deletes the keys); transactions are checked client-side against a snapshot and
 * committed with compare-on-revision, so several ops may touch one key.
 *
 * @throws KvError `P2_KV_UNAVAILABLE` (no endpoint or no leader), `P2_KV_PERMISSION_DENIED` (auth),
 *   `P2_KV_REQUEST_FAILED` (etcd refused), `P2_KV_SESSION_INVALID`, `P2_KV_INVALID_KEY`,
 *   `P2_KV_VALUE_TOO_LARGE`, `P2_KV_TXN_TOO_LARGE`, `P2_KV_ABORTED`.
 * @example
 * ```ts
 * const store = new EtcdStore({ endpoints: ['127.0.0.1:2379', '127.0.0.1:22379'] });
 * await store.put('intent/node1/hello', 'id: hello\n');
 * console.log((await store.get('intent/node1/hello')).value?.modifyIndex); // → the etcd mod_revision
 * await store.close();
 * ```
 */
export class EtcdStore implements Store {
  readonly description: string;
  private readonly settings: ResolvedEtcdOptions;
  private readonly conn: EtcdConnection;
  private readonly sessions: EtcdSessions;
  /** What this client last saw of keys it read or wrote: the guess for the next put/CAS guard. */
  private readonly lastSeen = new Map<string, Seen>();

  constructor(options: EtcdStoreOptions = {}) {
    this.settings = resolveEtcdOptions(options);
    this.description = this.settings.description;
    this.conn = new EtcdConnection(this.settings);
    this.sessions = new EtcdSessions(this.conn, this.settings);
  }

  /** The root prefix of every etcd key (tests clean the backend's records under it). @internal */
  protected get root(): string {
    return this.settings.root;
  }

  /** The tombstone lease in use (tests revoke it from outside). @internal */
  protected get tombLease(): { id: string; grantedAt: number } | undefined {
    return this.conn.currentTombstoneLease;
  }

  // ---- reads -----------------------------------------------------------------------------------

  private async readKey(key: string, signal?: AbortSignal): Promise<Indexed<KvEntry | undefined>> {
    const res = await this.conn.call(`GET ${key}`, signal, (c) =>
      c.kv.range({ key: this.conn.kvKey(key) }),
    );
    const kv = res.kvs[0];
    if (!kv) return { value: undefined, index: Number(res.header.revision) };
    const { entry } = decodeEntry(key, kv);
    this.remember(key, {
      mod: entry.modifyIndex,
      session: entry.session,
      lockIndex: entry.lockIndex,
    });
    return { value: entry, index: entry.modifyIndex };
  }

  /** Lists `prefix` with the Consul index: max(ModifyIndex, tombstones), else the store revision. */
  private async readPrefix(
    prefix: string,
    keysOnly: boolean,
    signal?: AbortSignal,
  ): Promise<Indexed<IKeyValue[]>> {
    const start = this.conn.kvKey(prefix);
    const tomb = this.conn.metaKey('tomb', prefix);
    const res = await this.conn.call(`LIST ${prefix}`, signal, (c) =>
      c.kv.txn({
        compare: [],
        success: [
          {
            request_range: {
              key: start,
              range_end: prefixEnd(start),
              keys_only: keysOnly,
              sort_order: 'Ascend',
              sort_target: 'Key',
            },
          },
          {
            request_range: {
              key: tomb,
              range_end: prefixEnd(tomb),
              keys_only: true,
              sort_order: 'Descend',
              sort_target: 'Mod',
              limit: 1,
            },
          },
        ],
        failure: [],
      }),
    );
    const kvs = res.responses[0]?.response_range.kvs ?? [];
    const tombs = res.responses[1]?.response_range.kvs ?? [];
    let index = 0;
    for (const kv of [...kvs, ...tombs]) index = Math.max(index, Number(kv.mod_revision));
    if (index === 0) index = Number(res.header.revision);
    return { value: kvs, index };
  }

  async get(key: string, options?: ReadOptions): Promise<Indexed<KvEntry | undefined>> {
    return this.blockingRead(`GET ${key}`, { key: this.conn.kvKey(key) }, options, () =>
      this.readKey(key, options?.signal),
    );
  }

  async list(prefix: string, options?: ReadOptions): Promise<Indexed<KvEntry[]>> {
    const start = this.conn.kvKey(prefix);
    return this.blockingRead(
      `LIST ${prefix}`,
      { key: start, end: prefixEnd(start) },
      options,
      async () => {
        const { value, index } = await this.readPrefix(prefix, false, options?.signal);
        return { value: value.map((kv) => decodeEntry(this.conn.keyFromKv(kv), kv).entry), index };
      },
    );
  }

  async keys(
    prefix: string,
    options?: ReadOptions & { separator?: string },
  ): Promise<Indexed<string[]>> {
    const start = this.conn.kvKey(prefix);
    const separator = options?.separator;
    return this.blockingRead(
      `KEYS ${prefix}`,
      { key: start, end: prefixEnd(start) },
      options,
      async () => {
        const { value, index } = await this.readPrefix(prefix, true, options?.signal);
        const out: string[] = [];
        for (const kv of value) {
          let key = this.conn.keyFromKv(kv);
          if (separator) {
            const at = key.indexOf(separator, prefix.length);
            if (at >= 0) key = key.slice(0, at + separator.length);
          }
          if (out[out.length - 1] !== key) out.push(key);
        }
        return { value: out, index };
      },
    );
  }

  // ---- writes through the transaction engine ---------------------------------------------------

  /**
   * One round trip when this client knows the key's revision (it wrote or read it last): a txn
   * guarded by that `mod_revision` that reads the key instead when the guess was wrong; then again
   * with what it read. The envelope keeps the lock holder (`ignore_lease`) and LockIndex.
   */
  async put(
    key: string,
    value: Uint8Array | string,
    options?: WriteOptions & { flags?: number },
  ): Promise<void> {
    assertWritableKey(key);
    const bytes = toBytes(value);
    assertValueSize(key, bytes);
    const etcdKey = this.conn.kvKey(key);
    let expected = this.lastSeen.get(key) ?? ABSENT;
    for (let attempt = 0; ; attempt++) {
      const entry: KvEntry = {
        key,
        value: bytes,
        flags: options?.flags ?? 0,
        session: expected.session,
        lockIndex: expected.lockIndex,
        createIndex: 0,
        modifyIndex: 0,
      };
      const res = await this.conn.call(`PUT ${key}`, options?.signal, (c) =>
        c.kv.txn({
          compare: [{ key: etcdKey, target: 'Mod', result: 'Equal', mod_revision: expected.mod }],
          success: [
            {
              request_put: {
                key: etcdKey,
                value: encodeEntry(entry),
                ...(expected.session ? { ignore_lease: true } : {}),
              },
            },
          ],
          failure: [{ request_range: { key: etcdKey } }],
        }),
      );
      if (res.succeeded) {
        this.remember(key, { ...expected, mod: Number(res.header.revision) });
        return;
      }
      const kv = res.responses[0]?.response_range.kvs[0];
      if (kv) {
        const { entry: current } = decodeEntry(key, kv);
        expected = {
          mod: current.modifyIndex,
          session: current.session,
          lockIndex: current.lockIndex,
        };
      } else expected = ABSENT;
      if (attempt >= 100) {
        throw new KvError(
          KvErrorCodes.CAS_FAILED,
          `PUT ${key} on ${this.description}: gave up after ${attempt + 1} attempts, the key kept changing`,
          { details: { key }, hint: 'retry later; something writes this key continuously' },
        );
      }
      if (attempt >= 2) await sleep(Math.random() * 5 * attempt);
    }
  }

  private remember(key: string, seen: Seen): void {
    if (this.lastSeen.size >= 10_000) this.lastSeen.clear();
    this.lastSeen.set(key, seen);
  }

  async cas(
    key: string,
    value: Uint8Array | string,
    index: number,
    options?: WriteOptions & { flags?: number },
  ): Promise<boolean> {
    const seen = index === 0 ? ABSENT : this.lastSeen.get(key);
    if (seen?.mod !== index) {
      // Unknown envelope at that revision: read it (two round trips).
      const result = await runEtcdTxn(
        this.conn,
        `CAS ${key}`,
        [{ verb: 'cas', key, value, index, flags: options?.flags }],
        options?.signal,
      );
      return result.committed;
    }
    // One round trip: the guard is the revision itself; the envelope fields are known.
    assertWritableKey(key);
    const bytes = toBytes(value);
    assertValueSize(key, bytes);
    const etcdKey = this.conn.kvKey(key);
    const entry: KvEntry = {
      key,
      value: bytes,
      flags: options?.flags ?? 0,
      session: seen.session,
      lockIndex: seen.lockIndex,
      createIndex: 0,
      modifyIndex: 0,
    };
    const res = await this.conn.call(`CAS ${key}`, options?.signal, (c) =>
      c.kv.txn({
        compare: [{ key: etcdKey, target: 'Mod', result: 'Equal', mod_revision: index }],
        success: [
          {
            request_put: {
              key: etcdKey,
              value: encodeEntry(entry),
              ...(seen.session ? { ignore_lease: true } : {}),
            },
          },
        ],
        failure: [],
      }),
    );
    if (res.succeeded) this.remember(key, { ...seen, mod: Number(res.header.revision) });
    return res.succeeded;
  }

  async delete(key: string, options?: WriteOptions): Promise<void> {
    assertWritableKey(key);
    this.lastSeen.delete(key);
    await this.deleteRange(`DELETE ${key}`, this.conn.kvKey(key), undefined, key, options?.signal);
  }

  async deleteCas(key: string, index: number, options?: WriteOptions): Promise<boolean> {
    const result = await runEtcdTxn(
      this.conn,
      `DELETE-CAS ${key}`,
      [{ verb: 'delete-cas', key, index }],
      options?.signal,
    );
    return result.committed;
  }

  async deleteTree(prefix: string, options?: WriteOptions): Promise<void> {
    if (prefix !== '') assertWritableKey(prefix);
    const start = this.conn.kvKey(prefix);
    await this.deleteRange(
      `DELETE-TREE ${prefix}`,
      start,
      prefixEnd(start),
      prefix,
      options?.signal,
    );
  }

  /** Deletes a key or range and leaves one tombstone, atomically; nothing (no revision) if absent. */
  private async deleteRange(
    what: string,
    key: Buffer,
    end: Buffer | undefined,
    tombName: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await this.conn.call(what, signal, async (c) => {
      const range = { key, ...(end ? { range_end: end } : {}) };
      const attempt = async () =>
        c.kv.txn({
          compare: [{ ...range, target: 'Create', result: 'Greater', create_revision: 0 }],
          success: [
            { request_delete_range: range },
            {
              request_put: {
                key: this.conn.metaKey('tomb', tombName),
                value: Buffer.alloc(0),
                lease: await this.conn.tombstoneLease(c),
              },
            },
          ],
          failure: [],
        });
      try {
        await attempt();
      } catch (error) {
        if (!isLeaseNotFound(error)) throw error;
        this.conn.forgetTombstoneLease(); // revoked from outside: grant a new one
        await attempt();
      }
    });
  }

  async acquire(
    key: string,
    value: Uint8Array | string,
    session: string,
    options?: WriteOptions,
  ): Promise<boolean> {
    if (!session) throw this.missingSession('acquire', key);
    const result = await runEtcdTxn(
      this.conn,
      `ACQUIRE ${key}`,
      [{ verb: 'lock', key, value, session }],
      options?.signal,
    );
    if (!result.committed && result.errors[0]?.what.includes('invalid session')) {
      throw new KvError(
        KvErrorCodes.SESSION_INVALID,
        `cannot acquire ${JSON.stringify(key)} on ${this.description}: session ${session} does not exist (expired or destroyed)`,
        { details: { key, session }, hint: 'create a new session and retry' },
      );
    }
    return result.committed;
  }

  async release(
    key: string,
    value: Uint8Array | string,
    session: string,
    options?: WriteOptions,
  ): Promise<boolean> {
    if (!session) throw this.missingSession('release', key);
    const result = await runEtcdTxn(
      this.conn,
      `RELEASE ${key}`,
      [{ verb: 'unlock', key, value, session }],
      options?.signal,
    );
    return result.committed;
  }

  private missingSession(what: string, key: string): KvError {
    return new KvError(
      KvErrorCodes.SESSION_INVALID,
      `cannot ${what} ${JSON.stringify(key)}: no session given`,
      { details: { key }, hint: 'create a session first (createSession/startSession)' },
    );
  }

  async txn(ops: readonly TxnOp[], options?: WriteOptions): Promise<TxnResult> {
    return runEtcdTxn(this.conn, 'TXN', ops, options?.signal);
  }

  /** Reads at once, or as a Consul blocking query when `options.index` is given. */
  private blockingRead<T>(
    what: string,
    range: EtcdRange,
    options: ReadOptions | undefined,
    read: () => Promise<Indexed<T>>,
  ): Promise<Indexed<T>> {
    return blockingRead(this.conn, what, range, options, this.settings, read);
  }

  // ---- sessions --------------------------------------------------------------------------------

  createSession(options?: SessionOptions): Promise<string> {
    return this.sessions.create(options);
  }

  renewSession(id: string, options?: WriteOptions): Promise<SessionInfo | undefined> {
    return this.sessions.renew(id, options);
  }

  sessionInfo(id: string, options?: ReadOptions): Promise<SessionInfo | undefined> {
    return this.sessions.info(id, options);
  }

  /**
   * Revokes the session's lease. Before that, emulates what etcd lacks: lock-delay markers for its
   * held keys, and for `release` sessions the keys are kept with the holder cleared.
   */
  destroySession(id: string, options?: WriteOptions): Promise<void> {
    return this.sessions.destroy(id, options);
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
