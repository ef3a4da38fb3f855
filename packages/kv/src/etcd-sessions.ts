/**
 * Consul sessions on etcd: a session is a lease with its record at `session/<uuid>`; destroying one
 * emulates what etcd lacks (lock-delay markers, and `release` keeping the keys with no holder).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { KvError, KvErrorCodes } from './errors.js';
import { decodeEntry, decodeSessionRecord, encodeEntry, type SessionRecord } from './etcd-codec.js';
import { type EtcdConnection, MAX_ETCD_TXN_OPS } from './etcd-connection.js';
import { isLeaseNotFound } from './etcd-errors.js';
import { recentLoopLagMs } from './loop-lag.js';
import type { ReadOptions, SessionInfo, SessionOptions, WriteOptions } from './types.js';

/** A lease for sessions without TTL: ten years (etcd leases always expire). */
const FOREVER_S = 315_360_000;

/**
 * Writes one keep-alive of `lease` on a fresh stream; resolves to its TTL (0 when the lease is
 * gone), or `'timeout'` when no answer came in `timeoutMs`.
 */
async function keepAliveOnce(
  conn: EtcdConnection,
  what: string,
  lease: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<number | 'timeout'> {
  return conn.call(what, signal, async (client) => {
    const stream = await client.leaseClient.leaseKeepAlive();
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    let answered = false;
    try {
      return await new Promise<number | 'timeout'>((resolve, reject) => {
        // A loaded process (thousands of clients on one event loop) runs expired timers before it
        // reads its sockets: the answer may be waiting unread when the timer fires. The verdict
        // waits one turn of the loop (setImmediate runs after the sockets are read), so an answer
        // that came in time wins. A spurious timeout cancels the stream, marks the member failed
        // in etcd3's circuit breaker and retries: under load, a spiral of expired leases.
        timer = setTimeout(() => setImmediate(() => resolve('timeout')), timeoutMs);
        onAbort = () => reject(conn.aborted(what, signal as AbortSignal));
        signal?.addEventListener('abort', onAbort, { once: true });
        stream.on('data', (res: { TTL: string }) => {
          answered = true;
          resolve(Number(res.TTL));
        });
        stream.on('error', reject);
        stream.write({ ID: lease });
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Ending an answered stream closes it quietly; cancelling one that did not answer also
      // reports its member as failed to etcd3's circuit breaker, so the retry goes elsewhere.
      if (answered) stream.end();
      else stream.cancel();
    }
  });
}

/** The most session records {@link EtcdSessions} keeps (a preparer renews one or two). @internal */
export const KNOWN_SESSIONS_MAX = 1_024;

/** The session half of `EtcdStore`. */
export class EtcdSessions {
  /**
   * Session records this client created or read, by id. A record never changes (its lease is fixed
   * at creation), so a renewal is one keep-alive, not a read and a keep-alive; an entry goes when the
   * session is destroyed or its lease is found gone, and the least recently used one goes past
   * {@link KNOWN_SESSIONS_MAX} (sessions created here and left to expire elsewhere; a renewal of
   * one forgotten reads its record again).
   */
  private readonly known = new Map<string, { record: SessionRecord; createIndex: number }>();

  private remember(id: string, found: { record: SessionRecord; createIndex: number }): void {
    this.known.delete(id); // a Map iterates in insertion order: the renewed go to the end
    this.known.set(id, found);
    if (this.known.size > KNOWN_SESSIONS_MAX) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }

  constructor(
    private readonly conn: EtcdConnection,
    private readonly settings: {
      minSessionTtlMs: number;
      attemptTimeoutMs: number;
      requestTimeoutMs: number;
      node: string;
      logger: Logger | undefined;
    },
  ) {}

  /** Grants the session's lease and stores its record under it. */
  async create(options: SessionOptions = {}): Promise<string> {
    const ttlMs = options.ttlMs ?? 0;
    if (ttlMs !== 0 && (ttlMs < this.settings.minSessionTtlMs || ttlMs > 86_400_000)) {
      throw new KvError(
        KvErrorCodes.SESSION_INVALID,
        `session TTL ${ttlMs} ms is outside ${this.settings.minSessionTtlMs} ms … 24 h (${this.conn.description})`,
        { details: { ttlMs }, hint: `use a TTL of at least ${this.settings.minSessionTtlMs} ms` },
      );
    }
    const id = randomUUID();
    return this.conn.call('CREATE SESSION', options.signal, async (c) => {
      const granted = await c.leaseClient.leaseGrant({
        TTL: ttlMs === 0 ? FOREVER_S : Math.max(1, Math.ceil(ttlMs / 1000)),
      });
      const record: SessionRecord = {
        name: options.name ?? '',
        node: this.settings.node,
        behavior: options.behavior ?? 'release',
        ttlMs,
        lockDelayMs: options.lockDelayMs ?? 15_000,
        lease: granted.ID,
      };
      const put = await c.kv.put({
        key: this.conn.metaKey('session', id),
        value: Buffer.from(JSON.stringify(record)),
        lease: granted.ID,
      });
      this.remember(id, { record, createIndex: Number(put.header.revision) });
      this.settings.logger?.debug(
        { session: id, lease: granted.ID, ttlMs },
        'etcd session created',
      );
      return id;
    });
  }

  private async read(
    id: string,
    signal: AbortSignal | undefined,
  ): Promise<{ record: SessionRecord; createIndex: number } | undefined> {
    const res = await this.conn.call(`SESSION ${id}`, signal, (c) =>
      c.kv.range({ key: this.conn.metaKey('session', id) }),
    );
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return {
      record: decodeSessionRecord(kv),
      createIndex: Number(kv.create_revision),
    };
  }

  private describe(id: string, found: { record: SessionRecord; createIndex: number }): SessionInfo {
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

  /**
   * Keeps the lease alive once; `undefined` when the session is gone. A session this client knows
   * (it created or renewed it) costs one keep-alive: a destroyed session's lease is revoked, and an
   * expired one's is gone, so the keep-alive's TTL of 0 tells what a read of the record would.
   */
  async renew(id: string, options?: WriteOptions): Promise<SessionInfo | undefined> {
    const found = this.known.get(id) ?? (await this.read(id, options?.signal));
    if (!found) return undefined;
    const ttl = await this.keepAlive(`RENEW SESSION ${id}`, found.record.lease, options?.signal);
    if (ttl <= 0) {
      this.known.delete(id);
      return undefined;
    }
    this.remember(id, found);
    return this.describe(id, found);
  }

  /**
   * One keep-alive of `lease`, moved to another member when a member fails or does not answer: the
   * lease lives in the cluster, so any live member renews it. The first attempt waits
   * `attemptTimeoutMs`, each one after a timeout twice as long, all of them `requestTimeoutMs` at most,
   * each bound with this process's recent event-loop lag added (as unary calls' deadlines).
   */
  private async keepAlive(
    what: string,
    lease: string,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const { attemptTimeoutMs, requestTimeoutMs } = this.settings;
    const deadline = Date.now() + requestTimeoutMs + recentLoopLagMs();
    let waitMs = attemptTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      const limit = Math.max(1, Math.min(waitMs + recentLoopLagMs(), deadline - Date.now()));
      let failure: KvError;
      try {
        const ttl = await keepAliveOnce(this.conn, what, lease, limit, signal);
        if (ttl !== 'timeout') return ttl;
        waitMs *= 2;
        failure = new KvError(
          KvErrorCodes.UNAVAILABLE,
          `${what} on ${this.conn.description} failed: no member answered the keep-alive in ${requestTimeoutMs} ms`,
          {
            hint: 'check that the etcd members are running and reachable, and that a quorum is up',
          },
        );
      } catch (error) {
        if (!(error instanceof KvError) || error.code !== KvErrorCodes.UNAVAILABLE) throw error;
        failure = error;
      }
      if (signal?.aborted) throw this.conn.aborted(what, signal);
      const pause = Math.min(500, 25 * 2 ** attempt);
      if (Date.now() + pause >= deadline) throw failure;
      this.settings.logger?.debug(
        { what, attempt, err: failure.message },
        'etcd keep-alive retried',
      );
      await sleep(pause);
    }
  }

  async info(id: string, options?: ReadOptions): Promise<SessionInfo | undefined> {
    const found = await this.read(id, options?.signal);
    return found && this.describe(id, found);
  }

  /**
   * Revokes the session's lease. Before that, emulates what etcd lacks: lock-delay markers for its
   * held keys, and for `release` sessions the keys are kept with the holder cleared.
   */
  async destroy(id: string, options?: WriteOptions): Promise<void> {
    this.known.delete(id);
    const found = await this.read(id, options?.signal);
    if (!found) return;
    const { record } = found;
    await this.conn.call(`DESTROY SESSION ${id}`, options?.signal, async (c) => {
      const live = await c.leaseClient.leaseTimeToLive({ ID: record.lease, keys: true });
      const kvPrefix = this.conn.kvPrefix;
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
                key: this.conn.metaKey('lockdelay', key),
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
            const res = await c.kv.range({ key: this.conn.kvKey(key) });
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
        if (!isLeaseNotFound(error)) throw error;
      }
    });
  }
}
