/**
 * The replication lock `lock/replication/<pod-id>` (spec 03 §3): one replication per pod id, held
 * by a session named by the lock message, so a replicate that dies releases it with its session.
 */
import { RcError, RcErrorCode, storeError } from '@p2/controller-kit';
import { lockKeys } from '@p2/keyspace';
import {
  acquireLock,
  type HeldLock,
  KvError,
  KvErrorCodes,
  type ManagedSession,
  type Store,
  startSession,
} from '@p2/kv';

/** A held replication lock and its session. */
export interface ReplicationLock {
  readonly key: string;
  readonly session: ManagedSession;
  readonly lock: HeldLock;
  /** Releases the lock and destroys the session (best effort; idempotent). */
  release(): Promise<void>;
}

/** P2's lock message: `"<user>" from "<host>" at "<time>"`. */
export function lockMessage(user: string, host: string, at = new Date()): string {
  return `"${user}" from "${host}" at "${at.toISOString()}"`;
}

/**
 * Takes `lock/replication/<podId>` with a new session (lock-delay 0, keys deleted with the session).
 * With `override`, a holder's session is destroyed and the lock tried once more (P2's
 * `--override-lock`).
 *
 * @throws RcError `P2_RC_LOCKED` naming the holder's session, `P2_RC_STORE`.
 */
export async function lockReplication(
  store: Store,
  podId: string,
  options: { message: string; ttlMs: number; override: boolean },
): Promise<ReplicationLock> {
  const key = lockKeys.replication(podId);
  let session: ManagedSession;
  try {
    session = await startSession(store, {
      name: options.message,
      ttlMs: options.ttlMs,
      lockDelayMs: 0,
      behavior: 'delete',
    });
  } catch (cause) {
    throw storeError(`creating a session for ${key}`, cause);
  }
  const release = async (lock?: HeldLock) => {
    await lock?.release().catch(() => undefined);
    await session.destroy().catch(() => undefined);
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const lock = await acquireLock(store, key, { session, value: options.message });
      return { key, session, lock, release: () => release(lock) };
    } catch (error) {
      const holder =
        error instanceof KvError && error.code === KvErrorCodes.LOCK_HELD
          ? (error.details as { holder?: string } | undefined)?.holder
          : undefined;
      if (holder && options.override && attempt === 0) {
        await store.destroySession(holder).catch(() => undefined);
        continue;
      }
      await release();
      if (!(error instanceof KvError && error.code === KvErrorCodes.LOCK_HELD)) {
        throw storeError(`taking ${key}`, error);
      }
      const info = holder ? await store.sessionInfo(holder).catch(() => undefined) : undefined;
      throw new RcError(
        RcErrorCode.LOCKED,
        holder
          ? `pod ${podId} is already being replicated by ${info?.name || 'session'} (session ${holder})`
          : `pod ${podId}: replication blocked due to delay by previous holder`,
        {
          details: { key, holder, holderName: info?.name },
          hint: holder
            ? 'wait for it to finish, or override the lock (destroys the holder session)'
            : 'retry shortly',
        },
      );
    }
  }
}
