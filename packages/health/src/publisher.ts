import { describeError } from '@p2/errors';
import { encodeHealthRecord, healthKey } from '@p2/keyspace';
import pino, { type Logger } from 'pino';
import type { HealthResult } from './check.js';
import { HealthError, HealthErrorCode } from './errors.js';
import type { HealthState } from './state.js';

/**
 * Where a checker sends results. Implement it to publish anywhere; {@link StoreHealthPublisher}
 * writes P2's health keys, {@link MemoryHealthPublisher} keeps them in memory.
 */
export interface HealthPublisher {
  /** Record the pod's current result (called on change and on periodic refresh). Rejects on failure. */
  publish(podId: string, result: HealthResult): Promise<void>;
  /** Forget the pod (it left this host). */
  remove(podId: string): Promise<void>;
  /**
   * Forget the pod but leave its record for the caller to withdraw in a write of its own; once this
   * resolves the publisher never writes the record again (not even after a new session).
   */
  forget?(podId: string): Promise<void>;
  /** Release resources (for the store publisher: end the session, so every key vanishes). */
  close?(): Promise<void>;
}

/** A publisher that keeps the latest result per pod in memory (single-process use, tests, a status page). */
export class MemoryHealthPublisher implements HealthPublisher {
  /** Latest result per pod. */
  readonly current = new Map<string, HealthResult>();
  /** Every call, in order. */
  readonly history: Array<
    { op: 'publish'; podId: string; result: HealthResult } | { op: 'remove'; podId: string }
  > = [];

  async publish(podId: string, result: HealthResult): Promise<void> {
    this.current.set(podId, result);
    this.history.push({ op: 'publish', podId, result });
  }

  async remove(podId: string): Promise<void> {
    this.current.delete(podId);
    this.history.push({ op: 'remove', podId });
  }
}

/**
 * The part of `@p2/kv`'s `Store` contract the store publisher needs. Any `Store` satisfies it; it is
 * spelled out here so `@p2/health` depends on the contract, not on a backend.
 */
export interface HealthPublisherStore {
  acquire(key: string, value: string, session: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  createSession(options: {
    name: string;
    ttlMs: number;
    lockDelayMs: number;
    behavior: 'delete';
  }): Promise<string>;
  renewSession(id: string): Promise<unknown>;
  destroySession(id: string): Promise<void>;
}

/** Options of {@link StoreHealthPublisher.start}. */
export interface StoreHealthPublisherOptions {
  store: HealthPublisherStore;
  /** This host's node name: keys are `health/<podId>/<node>`. */
  node: string;
  /** Session TTL; renewed every TTL/2. @default 15_000 (P2's `health_session_ttl_sec`) */
  sessionTtlMs?: number;
  /** First delay before re-creating a lost session, doubled per failure. @default 10_000 (P2) */
  sessionRetryBaseMs?: number;
  /** Longest delay between session re-creation attempts. @default 300_000 (P2) */
  sessionRetryMaxMs?: number;
  logger?: Logger;
  /** @default () => new Date() */
  now?: () => Date;
}

interface Written {
  status: HealthState;
  /** When the status last changed: P2's `Time`. */
  since: Date;
}

/**
 * Publishes to P2's health keys, `health/<podId>/<node>` = `{"Id","Node","Service","Status","Time","Expires"}`,
 * under one node-wide session `health:<node>:<pid>:<MMDD-hhmmss>` (TTL 15 s, lock-delay 1 ms,
 * behaviour delete), so every key vanishes when the host (or this process) dies. A lost session is
 * re-created with backoff and every known status is rewritten. Unlike P2, every write is an
 * `acquire` (P2 acquired once, then wrote plain PUTs): a write after the session died then fails
 * instead of leaving a key that never expires. `Time` is the time of the last status *change*.
 *
 * @example
 * ```ts
 * const publisher = await StoreHealthPublisher.start({ store, node: 'h1' });
 * await publisher.publish('web', await checkPodHealth(target));  // health/web/h1 = {"Id":"web",…,"Status":"passing",…}
 * await publisher.close();                                        // session destroyed: health/web/h1 is gone
 * ```
 */
export class StoreHealthPublisher implements HealthPublisher {
  readonly #store: HealthPublisherStore;
  readonly #node: string;
  readonly #ttlMs: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #logger: Logger;
  readonly #now: () => Date;
  readonly #written = new Map<string, Written>();
  #session: string | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs: number;
  #closed = false;
  #recreating: Promise<void> | undefined;

  private constructor(options: StoreHealthPublisherOptions) {
    this.#store = options.store;
    this.#node = options.node;
    this.#ttlMs = options.sessionTtlMs ?? 15_000;
    this.#retryBaseMs = options.sessionRetryBaseMs ?? 10_000;
    this.#retryMaxMs = options.sessionRetryMaxMs ?? 300_000;
    this.#retryDelayMs = this.#retryBaseMs;
    this.#logger = options.logger ?? pino({ level: 'silent' });
    this.#now = options.now ?? (() => new Date());
    healthKey('pod', this.#node); // validates the node name early
  }

  /**
   * Creates the session and starts renewing it.
   *
   * @throws KvError `P2_KV_INVALID_KEY` for a node name with `/`; {HealthError} `P2_HEALTH_PUBLISH_FAILED`
   *   when the session cannot be created (cause: the store's error).
   */
  static async start(options: StoreHealthPublisherOptions): Promise<StoreHealthPublisher> {
    const publisher = new StoreHealthPublisher(options);
    await publisher.#createSession();
    return publisher;
  }

  /** The current session id (`undefined` while a lost session is being re-created). */
  get session(): string | undefined {
    return this.#session;
  }

  /** The session name P2 used: `health:<node>:<pid>:<MMDD-hhmmss>`. */
  sessionName(): string {
    const d = this.#now();
    const two = (n: number) => String(n).padStart(2, '0');
    const stamp = `${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
    return `health:${this.#node}:${process.pid}:${stamp}`;
  }

  /**
   * Writes the pod's status. `Time` changes only when the status does.
   *
   * @throws {HealthError} `P2_HEALTH_PUBLISH_FAILED` when there is no live session or the store
   *   refuses (the checker retries on its next check); `P2_HEALTH_CLOSED` after `close()`.
   */
  async publish(podId: string, result: HealthResult): Promise<void> {
    this.#assertOpen();
    const key = healthKey(podId, this.#node);
    const previous = this.#written.get(podId);
    const written: Written =
      previous !== undefined && previous.status === result.status
        ? previous
        : { status: result.status, since: result.checkedAt };
    await this.#write(key, podId, written);
    this.#written.set(podId, written);
  }

  /**
   * Deletes the pod's key (P2: removing a pod from reality deletes its health key).
   *
   * @throws {HealthError} `P2_HEALTH_PUBLISH_FAILED` when the store refuses.
   */
  async remove(podId: string): Promise<void> {
    this.#assertOpen();
    const key = healthKey(podId, this.#node);
    this.#written.delete(podId);
    try {
      await this.#store.delete(key);
    } catch (error) {
      throw new HealthError(
        HealthErrorCode.PUBLISH_FAILED,
        `cannot delete ${key}: ${describeError(error)}`,
        { cause: error, details: { key } },
      );
    }
  }

  /**
   * See {@link HealthPublisher.forget}: the key stays (still held by the session, so it vanishes
   * with it) until the caller deletes it. A rewrite after a new session that is under way is
   * awaited; it deletes the key again itself, seeing the pod forgotten.
   */
  async forget(podId: string): Promise<void> {
    this.#written.delete(podId);
    await this.#recreating?.catch(() => undefined);
  }

  /** Stops renewing and destroys the session: the store deletes every key it wrote. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#retryTimer);
    await this.#recreating?.catch(() => undefined);
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) {
      try {
        await this.#store.destroySession(session);
      } catch (error) {
        // The TTL ends it anyway.
        this.#logger.warn({ err: describeError(error), session }, 'cannot destroy health session');
      }
    }
  }

  async #write(key: string, podId: string, written: Written): Promise<void> {
    const session = this.#session;
    if (session === undefined) {
      throw new HealthError(
        HealthErrorCode.PUBLISH_FAILED,
        `cannot write ${key}: the health session was lost and is being re-created`,
        { details: { key }, hint: 'the status is rewritten once a new session exists' },
      );
    }
    const value = encodeHealthRecord({
      podId,
      node: this.#node,
      status: written.status,
      time: written.since,
    });
    let acquired: boolean;
    try {
      acquired = await this.#store.acquire(key, value, session);
    } catch (error) {
      // Most likely the session is gone (Consul: "invalid session"); find out by renewing.
      this.#checkSessionSoon();
      throw new HealthError(
        HealthErrorCode.PUBLISH_FAILED,
        `cannot write ${key} under session ${session}: ${describeError(error)}`,
        { cause: error, details: { key, session } },
      );
    }
    if (!acquired) {
      throw new HealthError(
        HealthErrorCode.PUBLISH_FAILED,
        `cannot write ${key}: it is locked by another session (another preparer for node ${this.#node}?) or in lock-delay`,
        {
          details: { key, session },
          hint: 'two preparers on one node name? otherwise the write is retried on the next check',
        },
      );
    }
  }

  async #createSession(): Promise<void> {
    try {
      this.#session = await this.#store.createSession({
        name: this.sessionName(),
        ttlMs: this.#ttlMs,
        lockDelayMs: 1,
        behavior: 'delete',
      });
    } catch (error) {
      throw new HealthError(
        HealthErrorCode.PUBLISH_FAILED,
        `cannot create the health session for node ${this.#node}: ${describeError(error)}`,
        { cause: error },
      );
    }
    this.#retryDelayMs = this.#retryBaseMs;
    this.#scheduleRenew();
  }

  #scheduleRenew(): void {
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => void this.#renew(), Math.max(1, this.#ttlMs / 2));
    this.#renewTimer.unref();
  }

  #checkSessionSoon(): void {
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => void this.#renew(), 0);
    this.#renewTimer.unref();
  }

  async #renew(): Promise<void> {
    const session = this.#session;
    if (this.#closed || session === undefined) return;
    let alive: boolean;
    try {
      alive = (await this.#store.renewSession(session)) !== undefined;
    } catch (error) {
      // The store is unreachable: keep the session (its TTL may still run) and try again.
      this.#logger.warn({ err: describeError(error), session }, 'cannot renew health session');
      this.#scheduleRenew();
      return;
    }
    if (alive) {
      this.#scheduleRenew();
      return;
    }
    this.#logger.warn({ session }, 'health session lost; creating a new one');
    this.#session = undefined;
    this.#recreating = this.#recreate();
    await this.#recreating;
    this.#recreating = undefined;
  }

  async #recreate(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#createSession();
    } catch (error) {
      this.#logger.warn(
        { err: describeError(error), retryInMs: this.#retryDelayMs },
        'cannot re-create health session',
      );
      this.#retryTimer = setTimeout(() => {
        this.#recreating = this.#recreate();
      }, this.#retryDelayMs);
      this.#retryTimer.unref();
      this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, this.#retryMaxMs);
      return;
    }
    if (this.#closed) {
      // close() ran while the session was being created: do not leave it (or keys) behind.
      const orphan = this.#session;
      this.#session = undefined;
      clearTimeout(this.#renewTimer);
      if (orphan !== undefined) await this.#store.destroySession(orphan).catch(() => undefined);
      return;
    }
    // A new session: rewrite every status (P2 did the same).
    for (const [podId, written] of [...this.#written]) {
      const key = healthKey(podId, this.#node);
      try {
        await this.#write(key, podId, written);
        // Removed while this write was under way: take the key away again.
        if (!this.#written.has(podId)) await this.#store.delete(key);
      } catch (error) {
        this.#logger.warn(
          { err: describeError(error), podId },
          'cannot rewrite health after new session',
        );
      }
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new HealthError(HealthErrorCode.CLOSED, 'the health publisher is closed');
    }
  }
}
