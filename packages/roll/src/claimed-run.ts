/**
 * Running one rolling update outside the roll farm (`p2 roll run`, P2's p2-rctl rolling-update)
 * under the same claim the farm takes, so that only one of them drives it.
 */
import { hostname } from 'node:os';
import { type ControllerContext, resolveContext, storeError } from '@p2/controller-kit';
import { lockKeys } from '@p2/keyspace';
import { acquireLock, type HeldLock, KvError, KvErrorCodes, startSession } from '@p2/kv';
import { type RollOutcome, type RunRollOptions, runRollingUpdate } from './rolling-update.js';

/** How {@link runClaimedRollingUpdate} ended. */
export interface ClaimedRollResult {
  readonly outcome: RollOutcome;
  /**
   * With `locked` because the claim is held: the holder's session name (a roll farm's is
   * `p2-roll-farm:<host>:<time>`); absent when the claim is free but still under its previous
   * holder's lock-delay, or when an RC's mutation lock was the one held.
   */
  readonly holder?: string;
}

/** Options of {@link runClaimedRollingUpdate}. */
export interface ClaimedRollOptions extends RunRollOptions {
  /** Name of the claiming session. @default `p2-roll-run:<host>:<time>` */
  readonly sessionName?: string;
}

/**
 * Claims `lock/rolls/<id>` — the lock a {@link RollFarm} takes before it runs an update — with a
 * session of its own, then runs the update in this process ({@link runRollingUpdate}) and releases
 * the claim. When another session holds the claim (a farm is running the update, or another run),
 * nothing is written and the outcome is `locked` with the holder's name. Losing the claim or its
 * session, or `signal`, stops the run (`interrupted`): the update record stays for a farm or a
 * later run to resume.
 *
 * @example
 * ```ts
 * const { outcome, holder } = await runClaimedRollingUpdate({ store }, 'web-v2', { signal });
 * ```
 * @throws RcError `P2_RC_NOT_FOUND`, `P2_RC_INVALID_RECORD`, `P2_RC_STORE` (as `runRollingUpdate`)
 */
export async function runClaimedRollingUpdate(
  ctx: ControllerContext,
  id: string,
  options: ClaimedRollOptions = {},
): Promise<ClaimedRollResult> {
  const { store } = resolveContext(ctx);
  const name = options.sessionName ?? `p2-roll-run:${hostname()}:${new Date().toISOString()}`;
  const ttlMs = options.sessionTtlMs ?? 15_000;
  const session = await startSession(store, {
    name,
    ttlMs,
    lockDelayMs: 0,
    behavior: 'delete',
  }).catch((cause: unknown) => {
    throw storeError(`creating a session to claim rolling update ${id}`, cause);
  });
  try {
    let lock: HeldLock;
    try {
      lock = await acquireLock(store, lockKeys.roll(id), { session, value: name });
    } catch (error) {
      if (!(error instanceof KvError && error.code === KvErrorCodes.LOCK_HELD)) {
        throw storeError(`claiming rolling update ${id}`, error);
      }
      const holderId = (error.details as { holder?: string } | undefined)?.holder;
      const info = holderId ? await store.sessionInfo(holderId).catch(() => undefined) : undefined;
      return { outcome: 'locked', ...(info ? { holder: info.name } : {}) };
    }
    try {
      const stop = AbortSignal.any([
        lock.lost,
        session.lost,
        ...(options.signal ? [options.signal] : []),
      ]);
      // Stopped while claiming: leave the update untouched rather than enable its new RC.
      if (stop.aborted) return { outcome: 'interrupted' };
      return { outcome: await runRollingUpdate(ctx, id, { ...options, signal: stop }) };
    } finally {
      await lock.release().catch(() => undefined);
    }
  } finally {
    await session.destroy().catch(() => undefined);
  }
}
