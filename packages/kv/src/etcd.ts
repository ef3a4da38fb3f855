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
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describeError, redactCredentials } from '@p2/errors';
import type {
  Etcd3,
  ICompare,
  IKeyValue,
  IOptions,
  IRangeRequest,
  IRangeResponse,
  IRequestOp,
  Watcher,
} from 'etcd3';
import type { Logger } from 'pino';
import { KvError, KvErrorCodes } from './errors.js';
import { assertValueSize, assertWritableKey, MAX_TXN_OPS, toBytes } from './keys.js';
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

/** Options of {@link EtcdStore}. */
export interface EtcdStoreOptions {
  /** Client endpoints, `host:port` or `http(s)://host:port`. @default ['127.0.0.1:2379'] */
  endpoints?: string[];
  /** Use TLS for endpoints given without a scheme. @default false (true when `tlsCaFile` is set) */
  https?: boolean;
  /** PEM CA file that signed the etcd server certificates. */
  tlsCaFile?: string;
  /** etcd user (auth enabled). Never logged. */
  username?: string;
  /** Password of `username`. Never logged. */
  password?: string;
  /** Root prefix for every key this store writes, e.g. `p2/`. @default '' */
  prefix?: string;
  /** Default blocking-query wait. @default 30_000 */
  waitMs?: number;
  /** Shortest session TTL accepted (etcd grants ≥ 2 s). @default 10_000 (Consul's minimum) */
  minSessionTtlMs?: number;
  /** How long tombstones keep prefix indexes from going back. @default 900_000 (Consul's 15 min) */
  tombstoneTtlMs?: number;
  /** Node name reported in session info. @default os.hostname() */
  node?: string;
  /** Connect timeout per endpoint. @default 5_000 */
  dialTimeoutMs?: number;
  /** Deadline of every unary etcd call (watches excepted), so a frozen member cannot hang a caller. @default 15_000 */
  requestTimeoutMs?: number;
  logger?: Logger;
}

/** A session's metadata, stored at `session/<uuid>` under its lease. */
interface SessionRecord {
  name: string;
  node: string;
  behavior: 'release' | 'delete';
  ttlMs: number;
  lockDelayMs: number;
  lease: string;
}

/** A key's revision and the envelope fields a plain put must keep. */
interface Seen {
  mod: number;
  session: string | undefined;
  lockIndex: number;
}
const ABSENT: Seen = { mod: 0, session: undefined, lockIndex: 0 };

interface Loaded {
  entry: KvEntry;
  lease: string;
}

const ENVELOPE = 'p2kv1 ';
const NO_SESSION = '-';
/** A lease for sessions without TTL: ten years (etcd leases always expire). */
const FOREVER_S = 315_360_000;
const MAX_ETCD_TXN_OPS = 128;
const PENDING = -1;
const empty = new Uint8Array(0);

/** Turns the stored envelope back into an entry. Foreign (non-envelope) values read as plain. */
function decodeEntry(key: string, kv: IKeyValue): Loaded {
  const raw = kv.value ?? Buffer.alloc(0);
  let value: Uint8Array = raw;
  let flags = 0;
  let lockIndex = 0;
  let session: string | undefined;
  if (raw.subarray(0, ENVELOPE.length).toString('latin1') === ENVELOPE) {
    const newline = raw.indexOf(0x0a);
    const fields = raw.subarray(ENVELOPE.length, newline).toString('utf8').split(' ');
    if (newline > 0 && fields.length === 3) {
      flags = Number(fields[0]);
      lockIndex = Number(fields[1]);
      session = fields[2] === NO_SESSION ? undefined : fields[2];
      value = raw.subarray(newline + 1);
    }
  }
  return {
    entry: {
      key,
      value: new Uint8Array(value),
      flags,
      session,
      lockIndex,
      createIndex: Number(kv.create_revision),
      modifyIndex: Number(kv.mod_revision),
    },
    lease: kv.lease ?? '0',
  };
}

function encodeEntry(entry: KvEntry): Buffer {
  return Buffer.concat([
    Buffer.from(
      `${ENVELOPE}${entry.flags} ${entry.lockIndex} ${entry.session ?? NO_SESSION}\n`,
      'utf8',
    ),
    entry.value,
  ]);
}

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The names of `etcd3` errors that mean "the cluster could not be reached or has no leader". */
const UNAVAILABLE_ERRORS = new Set([
  'GRPCUnavailableError',
  'GRPCDeadlineExceededError',
  'GRPCConnectFailedError',
  'GRPCCancelledError',
  'BrokenCircuitError',
  'TaskCancelledError',
  'ClientClosedError',
]);
const DENIED_ERRORS = new Set([
  'EtcdAuthenticationFailedError',
  'EtcdPermissionDeniedError',
  'EtcdInvalidAuthTokenError',
  'GRPCUnauthenticatedError',
  'EtcdRoleNotGrantedError',
]);

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
  private readonly root: string;
  private readonly waitMs: number;
  private readonly minSessionTtlMs: number;
  private readonly tombstoneTtlMs: number;
  private readonly node: string;
  private readonly logger: Logger | undefined;
  private readonly clientOptions: IOptions;
  private clientPromise: Promise<Etcd3> | undefined;
  private tombLease: { id: string; grantedAt: number } | undefined;
  private readonly watchers = new Set<() => void>();
  /** What this client last saw of keys it read or wrote: the guess for the next put/CAS guard. */
  private readonly lastSeen = new Map<string, Seen>();
  private closed = false;

  constructor(options: EtcdStoreOptions = {}) {
    const endpoints = options.endpoints?.length ? options.endpoints : ['127.0.0.1:2379'];
    const secure = options.https === true || options.tlsCaFile !== undefined;
    const hosts = endpoints.map((endpoint) => {
      if (/^https?:\/\//.test(endpoint)) return endpoint;
      if (!/^(\[[^\]]+\]|[^:/\s]+)(:\d+)?$/.test(endpoint)) {
        throw new KvError(
          KvErrorCodes.BAD_OPTIONS,
          `etcd endpoint must be host:port, got ${JSON.stringify(redactCredentials(endpoint))}`,
          { hint: 'e.g. etcd://10.0.0.1:2379,10.0.0.2:2379' },
        );
      }
      return `${secure ? 'https' : 'http'}://${/:\d+$/.test(endpoint) ? endpoint : `${endpoint}:2379`}`;
    });
    let rootCertificate: Buffer | undefined;
    if (options.tlsCaFile !== undefined) {
      try {
        rootCertificate = readFileSync(options.tlsCaFile);
      } catch (cause) {
        throw new KvError(
          KvErrorCodes.BAD_OPTIONS,
          `cannot read TLS CA file ${options.tlsCaFile}`,
          { cause, hint: 'pass a readable PEM file (?ca=/path/ca.pem or tlsCaFile)' },
        );
      }
    }
    this.clientOptions = {
      hosts,
      dialTimeout: options.dialTimeoutMs ?? 5_000,
      defaultCallOptions: (context) =>
        context.isStream ? {} : { deadline: Date.now() + (options.requestTimeoutMs ?? 15_000) },
      ...(rootCertificate ? { credentials: { rootCertificate } } : {}),
      ...(options.username !== undefined
        ? { auth: { username: options.username, password: options.password ?? '' } }
        : {}),
    };
    this.root = options.prefix ?? '';
    this.description = `etcd${secure ? '+https' : ''}://${endpoints
      .map((e) => e.replace(/^https?:\/\//, ''))
      .join(',')}${this.root ? `/${this.root}` : ''}`;
    this.waitMs = options.waitMs ?? 30_000;
    this.minSessionTtlMs = options.minSessionTtlMs ?? 10_000;
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? 900_000;
    this.node = options.node ?? hostname();
    this.logger = options.logger;
  }

  // ---- plumbing --------------------------------------------------------------------------------

  private client(): Promise<Etcd3> {
    if (this.closed) return Promise.reject(this.closedError('connect'));
    this.clientPromise ??= import('etcd3').then(({ Etcd3 }) => new Etcd3(this.clientOptions));
    return this.clientPromise;
  }

  private closedError(what: string): KvError {
    return new KvError(
      KvErrorCodes.ABORTED,
      `${what}: the store client for ${this.description} was closed`,
    );
  }

  private aborted(what: string, signal: AbortSignal): KvError {
    return new KvError(KvErrorCodes.ABORTED, `${what} on ${this.description} was cancelled`, {
      cause: signal.reason,
    });
  }

  /** Runs one etcd call, converting foreign errors at the boundary. */
  private async call<T>(
    what: string,
    signal: AbortSignal | undefined,
    fn: (client: Etcd3) => Promise<T>,
  ): Promise<T> {
    if (signal?.aborted) throw this.aborted(what, signal);
    const client = await this.client();
    try {
      return await fn(client);
    } catch (error) {
      if (error instanceof KvError) throw error;
      if (this.closed) throw this.closedError(what);
      throw this.convert(what, error);
    }
  }

  private convert(what: string, error: unknown): KvError {
    const name = (error as { constructor?: { name?: string } })?.constructor?.name ?? '';
    const message = `${what} on ${this.description} failed: ${describeError(error)}`;
    if (UNAVAILABLE_ERRORS.has(name)) {
      return new KvError(KvErrorCodes.UNAVAILABLE, message, {
        cause: error,
        hint: 'check that the etcd members are running and reachable, and that a quorum is up',
      });
    }
    if (DENIED_ERRORS.has(name)) {
      return new KvError(KvErrorCodes.PERMISSION_DENIED, message, {
        cause: error,
        hint: 'check the user:password in the store URL and the role permissions on the key range',
      });
    }
    return new KvError(KvErrorCodes.REQUEST_FAILED, message, {
      cause: error,
      details: { etcdError: name },
    });
  }

  private kvKey(key: string): Buffer {
    return Buffer.from(`${this.root}kv/${key}`, 'utf8');
  }

  private metaKey(kind: 'session' | 'lockdelay' | 'tomb', rest: string): Buffer {
    return Buffer.from(`${this.root}${kind}/${rest}`, 'utf8');
  }

  private keyFromKv(kv: IKeyValue): string {
    return kv.key.toString('utf8').slice(this.root.length + 3);
  }

  /** A lease that tombstones share; a fresh one when the last is half-way to expiry. */
  private async tombstoneLease(client: Etcd3): Promise<string> {
    const now = Date.now();
    if (this.tombLease && now - this.tombLease.grantedAt < this.tombstoneTtlMs / 2) {
      return this.tombLease.id;
    }
    const granted = await client.leaseClient.leaseGrant({
      TTL: Math.max(2, Math.ceil(this.tombstoneTtlMs / 1000)),
    });
    this.tombLease = { id: granted.ID, grantedAt: now };
    return granted.ID;
  }

  // ---- reads -----------------------------------------------------------------------------------

  private async readKey(key: string, signal?: AbortSignal): Promise<Indexed<KvEntry | undefined>> {
    const res = await this.call(`GET ${key}`, signal, (c) => c.kv.range({ key: this.kvKey(key) }));
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
    const start = this.kvKey(prefix);
    const tomb = this.metaKey('tomb', prefix);
    const res = await this.call(`LIST ${prefix}`, signal, (c) =>
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

  /**
   * A Consul blocking query on etcd: watch the range from `index + 1` (history replays anything
   * already newer), wait for the first event or the timeout, then read. A compacted start revision
   * ends the wait at once (like Consul's index reset).
   */
  private async blocking<T>(
    what: string,
    range: { key: Buffer; end?: Buffer },
    options: ReadOptions | undefined,
    read: () => Promise<Indexed<T>>,
  ): Promise<Indexed<T>> {
    const index = options?.index;
    if (index === undefined || index <= 0) return read();
    const waitMs = Math.min(Math.max(options?.waitMs ?? this.waitMs, 0), 600_000);
    const woke = await this.waitForEvent(what, range, index + 1, waitMs, options?.signal);
    const answer = await read();
    return woke === undefined ? answer : { ...answer, index: Math.max(answer.index, woke) };
  }

  private async waitForEvent(
    what: string,
    range: { key: Buffer; end?: Buffer },
    fromRevision: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<number | undefined> {
    // `watcher()` (not `create()`): the wait is bounded by `waitMs` even while the watch stream is
    // reconnecting to another member; a later read then reports an unreachable cluster.
    const watcher = await this.call<Watcher>(`${what} (watch)`, signal, async (c) => {
      const builder = c.watch().startRevision(String(fromRevision));
      return (
        range.end ? builder.inRange({ start: range.key, end: range.end }) : builder.key(range.key)
      ).watcher();
    });
    let stop: () => void = () => {};
    try {
      return await new Promise<number | undefined>((resolve, reject) => {
        const timer = setTimeout(() => resolve(undefined), waitMs);
        const onAbort = () => reject(signal ? this.aborted(what, signal) : undefined);
        stop = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.watchers.delete(onClose);
        };
        const onClose = () => reject(this.closedError(what));
        this.watchers.add(onClose);
        signal?.addEventListener('abort', onAbort, { once: true });
        watcher.on('data', (res) => {
          const first = res.events?.[0];
          if (first?.kv) resolve(Number(first.kv.mod_revision));
        });
        watcher.on('error', (error) => {
          // Compaction or a cancelled watch: answer now; the caller re-reads.
          this.logger?.debug({ err: describeError(error), what }, 'etcd watch ended early');
          resolve(undefined);
        });
      });
    } finally {
      stop();
      watcher.cancel().catch(() => {});
    }
  }

  async get(key: string, options?: ReadOptions): Promise<Indexed<KvEntry | undefined>> {
    return this.blocking(`GET ${key}`, { key: this.kvKey(key) }, options, () =>
      this.readKey(key, options?.signal),
    );
  }

  async list(prefix: string, options?: ReadOptions): Promise<Indexed<KvEntry[]>> {
    const start = this.kvKey(prefix);
    return this.blocking(
      `LIST ${prefix}`,
      { key: start, end: prefixEnd(start) },
      options,
      async () => {
        const { value, index } = await this.readPrefix(prefix, false, options?.signal);
        return { value: value.map((kv) => decodeEntry(this.keyFromKv(kv), kv).entry), index };
      },
    );
  }

  async keys(
    prefix: string,
    options?: ReadOptions & { separator?: string },
  ): Promise<Indexed<string[]>> {
    const start = this.kvKey(prefix);
    const separator = options?.separator;
    return this.blocking(
      `KEYS ${prefix}`,
      { key: start, end: prefixEnd(start) },
      options,
      async () => {
        const { value, index } = await this.readPrefix(prefix, true, options?.signal);
        const out: string[] = [];
        for (const kv of value) {
          let key = this.keyFromKv(kv);
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
    const etcdKey = this.kvKey(key);
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
      const res = await this.call(`PUT ${key}`, options?.signal, (c) =>
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
      if (attempt >= 2) await sleepMs(Math.random() * 5 * attempt);
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
      const result = await this.runTxn(
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
    const etcdKey = this.kvKey(key);
    const entry: KvEntry = {
      key,
      value: bytes,
      flags: options?.flags ?? 0,
      session: seen.session,
      lockIndex: seen.lockIndex,
      createIndex: 0,
      modifyIndex: 0,
    };
    const res = await this.call(`CAS ${key}`, options?.signal, (c) =>
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
    await this.deleteRange(`DELETE ${key}`, this.kvKey(key), undefined, key, options?.signal);
  }

  async deleteCas(key: string, index: number, options?: WriteOptions): Promise<boolean> {
    const result = await this.runTxn(
      `DELETE-CAS ${key}`,
      [{ verb: 'delete-cas', key, index }],
      options?.signal,
    );
    return result.committed;
  }

  async deleteTree(prefix: string, options?: WriteOptions): Promise<void> {
    if (prefix !== '') assertWritableKey(prefix);
    const start = this.kvKey(prefix);
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
    await this.call(what, signal, async (c) => {
      const range = { key, ...(end ? { range_end: end } : {}) };
      const attempt = async () =>
        c.kv.txn({
          compare: [{ ...range, target: 'Create', result: 'Greater', create_revision: 0 }],
          success: [
            { request_delete_range: range },
            {
              request_put: {
                key: this.metaKey('tomb', tombName),
                value: Buffer.alloc(0),
                lease: await this.tombstoneLease(c),
              },
            },
          ],
          failure: [],
        });
      try {
        await attempt();
      } catch (error) {
        if (!/lease not found/i.test(describeError(error))) throw error;
        this.tombLease = undefined; // revoked from outside: grant a new one
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
    const result = await this.runTxn(
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
    const result = await this.runTxn(
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
    return this.runTxn('TXN', ops, options?.signal);
  }

  /**
   * Consul's `/v1/txn` on etcd: read every key, prefix, session and lock-delay the ops touch at one
   * revision; evaluate the ops in order on that snapshot (collecting Consul's error texts); commit
   * the final state of each touched key in one etcd txn guarded by `mod_revision` compares; retry
   * from the read when another writer got in between.
   */
  private async runTxn(
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
      if (op.verb === 'get-tree' || op.verb === 'delete-tree') {
        if (op.key !== '') assertWritableKey(op.key);
      } else assertWritableKey(op.key);
      if ('value' in op) assertValueSize(op.key, toBytes(op.value));
    }
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attemptTxn(what, ops, signal);
      if (outcome !== 'conflict') return outcome;
      if (attempt >= 100) {
        throw new KvError(
          KvErrorCodes.CAS_FAILED,
          `${what} on ${this.description}: gave up after ${attempt + 1} attempts, the keys kept changing`,
          { hint: 'retry later; something writes these keys continuously' },
        );
      }
      if (attempt >= 2) await sleepMs(Math.random() * 5 * attempt);
    }
  }

  private async attemptTxn(
    what: string,
    ops: readonly TxnOp[],
    signal: AbortSignal | undefined,
  ): Promise<TxnResult | 'conflict'> {
    const exactKeys = new Set<string>();
    const prefixes = new Set<string>();
    const sessionIds = new Set<string>();
    const lockKeys = new Set<string>();
    for (const op of ops) {
      if (op.verb === 'get-tree' || op.verb === 'delete-tree') prefixes.add(op.key);
      else exactKeys.add(op.key);
      if ((op.verb === 'lock' || op.verb === 'check-session') && op.session) {
        sessionIds.add(op.session);
      }
      if (op.verb === 'lock') lockKeys.add(op.key);
    }
    // Read the snapshot.
    const requests: IRangeRequest[] = [];
    for (const key of exactKeys) requests.push({ key: this.kvKey(key) });
    for (const prefix of prefixes) {
      const start = this.kvKey(prefix);
      requests.push({ key: start, range_end: prefixEnd(start) });
    }
    for (const id of sessionIds) requests.push({ key: this.metaKey('session', id) });
    for (const key of lockKeys) requests.push({ key: this.metaKey('lockdelay', key) });
    const { revision, responses } = await this.readAt(what, requests, signal);
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
        const key = this.keyFromKv(kv);
        snapshot.set(key, decodeEntry(key, kv));
      }
    }
    const sessions = new Map<string, SessionRecord>();
    for (const id of sessionIds) {
      const kv = responses[at++]?.kvs[0];
      if (kv) sessions.set(id, JSON.parse(kv.value.toString('utf8')) as SessionRecord);
    }
    const lockDelays = new Map<string, { mod: number; until: number }>();
    for (const key of lockKeys) {
      const kv = responses[at++]?.kvs[0];
      lockDelays.set(key, {
        mod: kv ? Number(kv.mod_revision) : 0,
        until: kv ? Number(kv.value.toString('utf8')) : 0,
      });
    }

    // Evaluate in order.
    const state = new Map<string, KvEntry | undefined>();
    for (const [key, loaded] of snapshot) state.set(key, loaded.entry);
    const touched = new Set<string>();
    const treeDeletes = new Set<string>();
    const results: KvEntry[] = [];
    const errors: { opIndex: number; what: string }[] = [];
    const now = Date.now();
    const q = JSON.stringify;
    const write = (key: string, next: Omit<KvEntry, 'createIndex' | 'modifyIndex'>) => {
      const previous = state.get(key);
      const entry: KvEntry = {
        ...next,
        createIndex: previous ? previous.createIndex : PENDING,
        modifyIndex: PENDING,
      };
      state.set(key, entry);
      touched.add(key);
      results.push({ ...entry, value: empty });
    };
    const evaluate = (op: TxnOp, opIndex: number) => {
      const current =
        op.verb === 'get-tree' || op.verb === 'delete-tree' ? undefined : state.get(op.key);
      const fail = (text: string) => errors.push({ opIndex, what: text });
      switch (op.verb) {
        case 'set':
        case 'cas': {
          if (op.verb === 'cas' && (current?.modifyIndex ?? 0) !== op.index) {
            return fail(`failed to set key ${q(op.key)}, index is stale`);
          }
          return write(op.key, {
            key: op.key,
            value: toBytes(op.value),
            flags: op.flags ?? 0,
            session: current?.session,
            lockIndex: current?.lockIndex ?? 0,
          });
        }
        case 'delete':
          if (current) touched.add(op.key);
          state.set(op.key, undefined);
          return;
        case 'delete-cas':
          if (current && current.modifyIndex !== op.index) {
            return fail(`failed to delete key ${q(op.key)}, index is stale`);
          }
          if (current) touched.add(op.key);
          state.set(op.key, undefined);
          return;
        case 'delete-tree':
          for (const key of state.keys()) {
            if (key.startsWith(op.key) && state.get(key)) {
              touched.add(key);
              state.set(key, undefined);
            }
          }
          treeDeletes.add(op.key);
          return;
        case 'lock': {
          if (!op.session) return fail(`failed to lock key ${q(op.key)}: missing session`);
          if (!sessions.has(op.session)) {
            return fail(`failed to lock key ${q(op.key)}, invalid session ${q(op.session)}`);
          }
          if (current?.session && current.session !== op.session) {
            return fail(`failed to lock key ${q(op.key)}, lock is already held`);
          }
          if (current?.session !== op.session && (lockDelays.get(op.key)?.until ?? 0) > now) {
            return fail(`failed to lock key ${q(op.key)} due to lock delay`);
          }
          return write(op.key, {
            key: op.key,
            value: toBytes(op.value),
            flags: op.flags ?? 0,
            session: op.session,
            lockIndex: (current?.lockIndex ?? 0) + (current?.session === op.session ? 0 : 1),
          });
        }
        case 'unlock':
          if (!current || current.session !== op.session || !op.session) {
            return fail(
              `failed to unlock key ${q(op.key)}, lock isn't held, or is held by another session`,
            );
          }
          return write(op.key, {
            key: op.key,
            value: toBytes(op.value),
            flags: op.flags ?? 0,
            session: undefined,
            lockIndex: current.lockIndex,
          });
        case 'check-index':
          if (!current) return fail(`failed to check index, key ${q(op.key)} doesn't exist`);
          if (current.modifyIndex !== op.index) {
            return fail(
              `failed index check for key ${q(op.key)}, current modify index ${current.modifyIndex} != ${op.index}`,
            );
          }
          results.push({ ...current, value: empty });
          return;
        case 'check-session':
          if (!current) return fail(`failed to check session, key ${q(op.key)} doesn't exist`);
          if (current.session !== op.session) {
            return fail(
              `failed session check for key ${q(op.key)}, current session ${q(current.session ?? '')} != ${q(op.session)}`,
            );
          }
          results.push({ ...current, value: empty });
          return;
        case 'check-not-exists':
          if (current) fail(`key ${q(op.key)} exists`);
          return;
        case 'get':
          if (!current) return fail(`key ${q(op.key)} doesn't exist`);
          results.push({ ...current });
          return;
        case 'get-tree': {
          const keys = [...state.keys()].filter((k) => k.startsWith(op.key) && state.get(k)).sort();
          for (const key of keys) results.push({ ...(state.get(key) as KvEntry) });
          return;
        }
      }
    };
    for (const [opIndex, op] of ops.entries()) evaluate(op, opIndex);
    if (errors.length > 0) return { committed: false, errors };

    // Commit the final state of every touched key, guarded by the snapshot.
    const compare: ICompare[] = [];
    for (const [key, mod] of exactMods) {
      compare.push({ key: this.kvKey(key), target: 'Mod', result: 'Equal', mod_revision: mod });
    }
    for (const prefix of prefixes) {
      for (const kind of ['kv', 'tomb'] as const) {
        const start = kind === 'kv' ? this.kvKey(prefix) : this.metaKey('tomb', prefix);
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
          key: this.metaKey('session', id),
          target: 'Version',
          result: 'Greater',
          version: 0,
        });
      }
    }
    for (const [key, delay] of lockDelays) {
      compare.push({
        key: this.metaKey('lockdelay', key),
        target: 'Mod',
        result: 'Equal',
        mod_revision: delay.mod,
      });
    }
    if (touched.size === 0) {
      // Read-only: the snapshot is the answer.
      return { committed: true, results };
    }
    const client = await this.client();
    const success: IRequestOp[] = [];
    let tombLease: string | undefined;
    for (const key of touched) {
      const entry = state.get(key);
      const before = snapshot.get(key);
      if (!entry) {
        if (!before) continue;
        tombLease ??= await this.call(what, signal, (c) => this.tombstoneLease(c));
        success.push({ request_delete_range: { key: this.kvKey(key) } });
        success.push({
          request_put: { key: this.metaKey('tomb', key), value: Buffer.alloc(0), lease: tombLease },
        });
        continue;
      }
      const put: IRequestOp['request_put'] = { key: this.kvKey(key), value: encodeEntry(entry) };
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
      tombLease ??= await this.call(what, signal, (c) => this.tombstoneLease(c));
      for (const prefix of treeDeletes) {
        if (touched.has(prefix) && !state.get(prefix)) continue; // already tombstoned above
        success.push({
          request_put: {
            key: this.metaKey('tomb', prefix),
            value: Buffer.alloc(0),
            lease: tombLease,
          },
        });
      }
    }
    if (success.length > MAX_ETCD_TXN_OPS || compare.length > MAX_ETCD_TXN_OPS) {
      throw new KvError(
        KvErrorCodes.TXN_TOO_LARGE,
        `${what} on ${this.description} needs ${success.length} etcd writes and ${compare.length} compares; etcd allows ${MAX_ETCD_TXN_OPS} each`,
        { hint: 'split the transaction (delete-tree of many keys is the usual cause)' },
      );
    }
    if (success.length === 0) return { committed: true, results };
    if (signal?.aborted) throw this.aborted(what, signal);
    let res: Awaited<ReturnType<Etcd3['kv']['txn']>>;
    try {
      res = await client.kv.txn({ compare, success, failure: [] });
    } catch (error) {
      if (this.closed) throw this.closedError(what);
      // A session lease that expired between the read and the commit.
      if (/lease not found/i.test(describeError(error))) {
        this.tombLease = undefined; // revoked from outside: grant a new one on the retry
        return 'conflict';
      }
      throw this.convert(what, error);
    }
    if (!res.succeeded) return 'conflict';
    const committedAt = Number(res.header.revision);
    for (const entry of results) {
      if (entry.createIndex === PENDING) entry.createIndex = committedAt;
      if (entry.modifyIndex === PENDING) entry.modifyIndex = committedAt;
    }
    return { committed: true, results };
  }

  /** Runs range requests at one revision (one etcd txn per 128). */
  private async readAt(
    what: string,
    requests: IRangeRequest[],
    signal: AbortSignal | undefined,
  ): Promise<{ revision: number; responses: IRangeResponse[] }> {
    const responses: IRangeResponse[] = [];
    let revision = 0;
    for (let i = 0; i < requests.length || i === 0; i += MAX_ETCD_TXN_OPS) {
      const chunk = requests
        .slice(i, i + MAX_ETCD_TXN_OPS)
        .map((r) => ({ request_range: revision ? { ...r, revision } : r }));
      const res = await this.call(what, signal, (c) =>
        c.kv.txn({ compare: [], success: chunk, failure: [] }),
      );
      if (!revision) revision = Number(res.header.revision);
      for (const r of res.responses) responses.push(r.response_range);
    }
    return { revision, responses };
  }

  // ---- sessions --------------------------------------------------------------------------------

  async createSession(options: SessionOptions = {}): Promise<string> {
    const ttlMs = options.ttlMs ?? 0;
    if (ttlMs !== 0 && (ttlMs < this.minSessionTtlMs || ttlMs > 86_400_000)) {
      throw new KvError(
        KvErrorCodes.SESSION_INVALID,
        `session TTL ${ttlMs} ms is outside ${this.minSessionTtlMs} ms … 24 h (${this.description})`,
        { details: { ttlMs }, hint: `use a TTL of at least ${this.minSessionTtlMs} ms` },
      );
    }
    const id = randomUUID();
    return this.call('CREATE SESSION', options.signal, async (c) => {
      const granted = await c.leaseClient.leaseGrant({
        TTL: ttlMs === 0 ? FOREVER_S : Math.max(1, Math.ceil(ttlMs / 1000)),
      });
      const record: SessionRecord = {
        name: options.name ?? '',
        node: this.node,
        behavior: options.behavior ?? 'release',
        ttlMs,
        lockDelayMs: options.lockDelayMs ?? 15_000,
        lease: granted.ID,
      };
      await c.kv.put({
        key: this.metaKey('session', id),
        value: Buffer.from(JSON.stringify(record)),
        lease: granted.ID,
      });
      this.logger?.debug({ session: id, lease: granted.ID, ttlMs }, 'etcd session created');
      return id;
    });
  }

  private async readSession(
    id: string,
    signal: AbortSignal | undefined,
  ): Promise<{ record: SessionRecord; createIndex: number } | undefined> {
    const res = await this.call(`SESSION ${id}`, signal, (c) =>
      c.kv.range({ key: this.metaKey('session', id) }),
    );
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return {
      record: JSON.parse(kv.value.toString('utf8')) as SessionRecord,
      createIndex: Number(kv.create_revision),
    };
  }

  private info(id: string, found: { record: SessionRecord; createIndex: number }): SessionInfo {
    const { record } = found;
    return {
      id,
      name: record.name,
      node: record.node,
      behavior: record.behavior,
      ttlMs: record.ttlMs,
      lockDelayMs: record.lockDelayMs,
      createIndex: found.createIndex,
    };
  }

  async renewSession(id: string, options?: WriteOptions): Promise<SessionInfo | undefined> {
    const found = await this.readSession(id, options?.signal);
    if (!found) return undefined;
    const ttl = await this.call(`RENEW SESSION ${id}`, options?.signal, async (c) => {
      const stream = await c.leaseClient.leaseKeepAlive();
      try {
        return await new Promise<number>((resolve, reject) => {
          stream.on('data', (res: { TTL: string }) => resolve(Number(res.TTL)));
          stream.on('error', reject);
          stream.write({ ID: found.record.lease });
        });
      } finally {
        stream.end();
      }
    });
    return ttl > 0 ? this.info(id, found) : undefined;
  }

  async sessionInfo(id: string, options?: ReadOptions): Promise<SessionInfo | undefined> {
    const found = await this.readSession(id, options?.signal);
    return found && this.info(id, found);
  }

  /**
   * Revokes the session's lease. Before that, emulates what etcd lacks: lock-delay markers for its
   * held keys, and for `release` sessions the keys are kept with the holder cleared.
   */
  async destroySession(id: string, options?: WriteOptions): Promise<void> {
    const found = await this.readSession(id, options?.signal);
    if (!found) return;
    const { record } = found;
    await this.call(`DESTROY SESSION ${id}`, options?.signal, async (c) => {
      const live = await c.leaseClient.leaseTimeToLive({ ID: record.lease, keys: true });
      const kvPrefix = `${this.root}kv/`;
      const held = (live.keys ?? [])
        .map((k) => k.toString('utf8'))
        .filter((k) => k.startsWith(kvPrefix))
        .map((k) => k.slice(kvPrefix.length));
      if (held.length > 0 && record.lockDelayMs > 0) {
        const lease = await c.leaseClient.leaseGrant({
          TTL: Math.max(2, Math.ceil(record.lockDelayMs / 1000) + 1),
        });
        const until = String(Date.now() + record.lockDelayMs);
        for (let i = 0; i < held.length; i += MAX_ETCD_TXN_OPS) {
          await c.kv.txn({
            compare: [],
            success: held.slice(i, i + MAX_ETCD_TXN_OPS).map((key) => ({
              request_put: {
                key: this.metaKey('lockdelay', key),
                value: Buffer.from(until),
                lease: lease.ID,
              },
            })),
            failure: [],
          });
        }
      }
      if (record.behavior === 'release') {
        await Promise.all(
          held.map(async (key) => {
            const res = await c.kv.range({ key: this.kvKey(key) });
            const kv = res.kvs[0];
            if (!kv) return;
            const { entry } = decodeEntry(key, kv);
            if (entry.session !== id) return;
            await c.kv.txn({
              compare: [
                { key: kv.key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision },
              ],
              success: [
                {
                  request_put: {
                    key: kv.key,
                    value: encodeEntry({ ...entry, session: undefined }),
                  },
                },
              ],
              failure: [],
            });
          }),
        );
      }
      try {
        await c.leaseClient.leaseRevoke({ ID: record.lease });
      } catch (error) {
        if (!/lease not found/i.test(describeError(error))) throw error;
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.watchers]) stop();
    const client = await this.clientPromise?.catch(() => undefined);
    client?.close();
  }
}

/** Builds {@link EtcdStoreOptions} from a store URL (`etcd://user:pw@h1:2379,h2:2379/prefix?ca=`). @internal */
export function etcdOptionsFromUrl(
  url: URL,
  hosts: string[],
  https: boolean,
  extra: { tlsCaFile?: string; waitMs?: number; logger?: Logger },
): EtcdStoreOptions {
  const path = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  const minTtl = url.searchParams.get('minSessionTtlMs');
  return {
    endpoints: hosts.length > 0 ? hosts : ['127.0.0.1:2379'],
    https,
    tlsCaFile: extra.tlsCaFile ?? (url.searchParams.get('ca') || undefined),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    prefix: path === '' || path.endsWith('/') ? path : `${path}/`,
    minSessionTtlMs: minTtl ? Number(minTtl) : undefined,
    waitMs: extra.waitMs,
    logger: extra.logger,
  };
}
