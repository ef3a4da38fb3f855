/** Managed sessions (periodic renewal, visible loss) and session locks on keys. */
import type { Logger } from 'pino';
import { KvError, KvErrorCodes } from './errors.js';
import { toBytes } from './keys.js';
import type { SessionOptions, Store } from './types.js';
import { sleep, watchKey } from './watch.js';

/** A session kept alive in the background. */
export interface ManagedSession {
  readonly id: string;
  /** Aborted (with a `KvError` `P2_KV_SESSION_INVALID` reason) when the session is gone. */
  readonly lost: AbortSignal;
  /** Stops renewing and destroys the session (its keys are released or deleted). Idempotent. */
  destroy(): Promise<void>;
  /** Stops renewing without destroying (the session then expires after its TTL). */
  abandon(): void;
}

/** Options of {@link startSession}. */
export interface ManagedSessionOptions extends SessionOptions {
  /** Renew interval. @default half the server-reported TTL */
  renewEveryMs?: number;
  logger?: Logger;
}

/**
 * Creates a session and renews it every TTL/2 (the TTL the server reports wins). When a renewal
 * finds the session gone, or renewals fail for longer than the TTL, `lost` fires.
 *
 * @throws KvError `P2_KV_SESSION_INVALID` and transport codes from create.
 * @example
 * ```ts
 * const session = await startSession(store, { name: 'p2-rctl', ttlMs: 15_000, lockDelayMs: 5_000, behavior: 'delete' });
 * session.lost.addEventListener('abort', () => process.exit(1));
 * ```
 */
export async function startSession(
  store: Store,
  options: ManagedSessionOptions = {},
): Promise<ManagedSession> {
  const id = await store.createSession(options);
  return manageSession(store, id, options);
}

/**
 * Renews an existing session in the background (Consul's `RenewPeriodic`).
 * @example const managed = manageSession(store, id, { ttlMs: 15_000 });
 */
export function manageSession(
  store: Store,
  id: string,
  options: Pick<ManagedSessionOptions, 'ttlMs' | 'renewEveryMs' | 'logger' | 'signal'> = {},
): ManagedSession {
  const lostController = new AbortController();
  const stopController = new AbortController();
  const ttlMs = options.ttlMs ?? 15_000;
  let destroyed: Promise<void> | undefined;
  const lose = (reason: string, cause?: unknown) => {
    if (lostController.signal.aborted) return;
    options.logger?.warn({ session: id, reason }, 'session lost');
    lostController.abort(
      new KvError(KvErrorCodes.SESSION_INVALID, `session ${id} was lost: ${reason}`, {
        cause,
        details: { session: id },
      }),
    );
  };
  options.signal?.addEventListener('abort', () => stopController.abort(), { once: true });

  void (async () => {
    let every = options.renewEveryMs ?? ttlMs / 2;
    // Monotonic: a wall clock jumping forward must not declare a healthy session lost.
    let lastOk = performance.now();
    while (!stopController.signal.aborted) {
      await sleep(every, stopController.signal);
      if (stopController.signal.aborted) return;
      try {
        const info = await store.renewSession(id, { signal: stopController.signal });
        if (!info) return lose('the store no longer knows it (expired or destroyed)');
        lastOk = performance.now();
        if (options.renewEveryMs === undefined && info.ttlMs > 0) every = info.ttlMs / 2;
      } catch (error) {
        if (stopController.signal.aborted) return;
        options.logger?.warn({ err: error, session: id }, 'session renewal failed; retrying');
        if (performance.now() - lastOk > ttlMs) {
          lose(`renewals failed for longer than its TTL (${ttlMs} ms)`, error);
          // Best effort: the store may be back by now; make sure nobody relies on the old session.
          await store.destroySession(id).catch(() => undefined);
          return;
        }
        every = Math.min(every, 1_000);
      }
    }
  })();

  return {
    id,
    lost: lostController.signal,
    abandon() {
      stopController.abort();
    },
    destroy() {
      if (!destroyed) {
        stopController.abort();
        destroyed = store.destroySession(id).then(() => lose('destroyed by its owner'));
      }
      return destroyed;
    },
  };
}

/** A lock held on a key. */
export interface HeldLock {
  readonly key: string;
  readonly session: string;
  /**
   * Aborted when the lock is lost: the session died, the key was deleted, or another session holds
   * it. The reason is a `KvError` `P2_KV_LOCK_LOST`.
   */
  readonly lost: AbortSignal;
  /** Stops monitoring and deletes the lock key if this session still holds it (P2's unlock). */
  release(): Promise<void>;
}

/** Options of {@link acquireLock}. */
export interface LockOptions {
  /** The session that will own the lock (a managed session also makes `lost` follow its loss). */
  session: ManagedSession | string;
  /** Value written into the key (P2 writes the session name). @default '' */
  value?: Uint8Array | string;
  /** How long to keep trying; 0 = one attempt. @default 0 */
  waitMs?: number;
  /** Pause when the key is free but still under lock-delay. @default 1_000 */
  retryMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

/**
 * Takes a session lock on `key` (Consul `acquire`), then watches the key so that `lost` fires as soon
 * as the lock is no longer ours.
 *
 * @throws KvError `P2_KV_LOCK_HELD` (another session holds it, or its lock-delay runs, until `waitMs`
 *   ran out; `details.holder` names the holder), `P2_KV_SESSION_INVALID`, `P2_KV_ABORTED`.
 * @example
 * ```ts
 * const lock = await acquireLock(store, 'lock/replication_controllers/abc', { session, waitMs: 15_000 });
 * lock.lost.addEventListener('abort', () => stopWorking());
 * await lock.release();
 * ```
 */
export async function acquireLock(
  store: Store,
  key: string,
  options: LockOptions,
): Promise<HeldLock> {
  const sessionId = typeof options.session === 'string' ? options.session : options.session.id;
  const deadline = performance.now() + (options.waitMs ?? 0);
  const value = toBytes(options.value ?? '');
  for (;;) {
    if (options.signal?.aborted) {
      throw new KvError(KvErrorCodes.ABORTED, `waiting for lock ${key} was cancelled`, {
        cause: options.signal.reason,
      });
    }
    if (await store.acquire(key, value, sessionId, { signal: options.signal })) break;
    const { value: entry, index } = await store.get(key, { signal: options.signal });
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      throw new KvError(
        KvErrorCodes.LOCK_HELD,
        entry?.session
          ? `lock ${key} is held by session ${entry.session}`
          : `lock ${key} is free but still under the previous holder's lock-delay`,
        {
          details: { key, holder: entry?.session },
          hint: entry?.session
            ? 'wait for the holder to finish, or destroy its session to override'
            : 'retry shortly',
        },
      );
    }
    if (entry?.session) {
      // Block until the key changes (holder releases or dies), at most until the deadline.
      await store
        .get(key, { index, waitMs: remaining, signal: options.signal })
        .catch(() => undefined);
    } else {
      await sleep(Math.min(options.retryMs ?? 1_000, remaining), options.signal);
    }
  }

  const lostController = new AbortController();
  const monitor = new AbortController();
  const lose = (reason: string) => {
    if (lostController.signal.aborted) return;
    options.logger?.warn({ key, session: sessionId, reason }, 'lock lost');
    lostController.abort(
      new KvError(KvErrorCodes.LOCK_LOST, `lock ${key} was lost: ${reason}`, { details: { key } }),
    );
    monitor.abort();
  };
  if (typeof options.session !== 'string') {
    const sessionLost = options.session.lost;
    if (sessionLost.aborted) lose('its session was lost');
    else sessionLost.addEventListener('abort', () => lose('its session was lost'), { once: true });
  }
  void (async () => {
    try {
      for await (const { value: entry } of watchKey(store, key, {
        signal: monitor.signal,
        logger: options.logger,
      })) {
        if (!entry) return lose('the key was deleted (session expired or destroyed?)');
        if (entry.session !== sessionId) {
          return lose(
            entry.session ? `now held by session ${entry.session}` : 'the lock was released',
          );
        }
      }
    } catch (error) {
      lose(`watching the key failed: ${(error as Error).message}`);
    }
  })();

  let released: Promise<void> | undefined;
  return {
    key,
    session: sessionId,
    lost: lostController.signal,
    release() {
      if (!released) {
        released = (async () => {
          monitor.abort();
          const { value: entry, index } = await store.get(key);
          if (!entry) return;
          if (entry.session !== sessionId) {
            throw new KvError(
              KvErrorCodes.LOCK_LOST,
              `cannot release ${key}: it is held by ${entry.session ?? 'nobody'}`,
            );
          }
          await store.deleteCas(key, index);
          if (!lostController.signal.aborted) {
            lostController.abort(
              new KvError(KvErrorCodes.LOCK_LOST, `lock ${key} was released`, { details: { key } }),
            );
          }
        })();
      }
      return released;
    },
  };
}
