/**
 * The one lock every process changing users takes (several preparers, `p2 launch`, bootstrap), and
 * the in-process group commit in front of it: work queued while a batch runs waits for the next
 * batch, and a whole batch runs under one acquisition of the lock.
 */
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import lockfile from 'proper-lockfile';
import { UsersError, UsersErrorCodes } from './errors.js';

/** Root's directory for the lock (never /run/lock, which every user may write). */
const LOCK_DIR = '/run/p2';

/** Runs `fn` holding the cross-process users lock. */
async function acrossProcesses<T>(fn: () => Promise<T>): Promise<T> {
  let release: () => Promise<void>;
  try {
    await mkdir(LOCK_DIR, { recursive: true, mode: 0o755 });
    const dir = await lstat(LOCK_DIR);
    const owner = process.getuid?.() ?? 0;
    if (!dir.isDirectory() || dir.uid !== owner || (dir.mode & 0o022) !== 0) {
      throw new Error(
        `${LOCK_DIR} must be a directory owned by uid ${owner} that nobody else may write`,
      );
    }
    release = await lockfile.lock(LOCK_DIR, {
      lockfilePath: join(LOCK_DIR, 'users.lock'),
      realpath: false,
      // a holder that died is taken over once its lock is 10 s stale (it refreshes every 5 s)
      stale: 10_000,
      retries: { retries: 600, factor: 1.2, minTimeout: 10, maxTimeout: 100 },
      // Losing the lock mid-way (its refresh failed) must not crash the caller: the sequence it
      // guards is short and each step is idempotent.
      onCompromised: () => undefined,
    });
  } catch (error) {
    throw new UsersError(
      UsersErrorCodes.LOCK_FAILED,
      `cannot take the users lock ${LOCK_DIR}/users.lock: ${describeError(error)}`,
      {
        cause: error,
        hint: `another process holds it for long, or ${LOCK_DIR} is not root's own directory`,
      },
    );
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}

/**
 * One piece of work for the users lock. Consecutive jobs of the same `kind` run as one batch:
 * `runBatch` gets them all and settles each one (it must not throw).
 */
export interface LockedJob<K extends string = string> {
  kind: K;
  reject(error: unknown): void;
}

/**
 * A group commit in front of the users lock: callers queue jobs; while a batch holds the lock the
 * next jobs wait, then all of one kind go together under one acquisition. Jobs run in the order
 * they were queued (a removal queued between two creations splits them into two batches).
 */
export class LockedQueue<J extends LockedJob> {
  private readonly pending: J[] = [];
  private draining = false;

  constructor(private readonly runBatch: (batch: J[]) => Promise<void>) {}

  /** Queues a job; it is settled by the batch it ends up in. */
  push(job: J): void {
    this.pending.push(job);
    if (!this.draining) {
      this.draining = true;
      void this.drain();
    }
  }

  private async drain(): Promise<void> {
    // Let the callers of this tick queue too, so the first batch is not a batch of one.
    await Promise.resolve();
    while (this.pending.length > 0) {
      const kind = this.pending[0]?.kind;
      let n = 0;
      while (n < this.pending.length && this.pending[n]?.kind === kind) n++;
      const batch = this.pending.splice(0, n);
      try {
        await acrossProcesses(() => this.runBatch(batch));
      } catch (error) {
        for (const job of batch) job.reject(error);
      }
    }
    this.draining = false;
  }
}
