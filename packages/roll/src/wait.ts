/** Following a rolling update until it ends (`p2 roll start --wait`). */
import { sleep } from '@p2/controller-kit';
import type { RollState, RollStatus } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { RollStore } from './roll-store.js';

/** Options of {@link waitForRoll}. */
export interface WaitForRollOptions {
  /** How often the records are read. @default 1_000 */
  readonly pollMs?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal;
  /** Called with the status record whenever it changes. */
  readonly onStatus?: (status: RollStatus) => void;
  /**
   * After the update's record is gone, how long to wait for the farm's ending status before
   * calling it cancelled (a farm deletes the record, then writes `succeeded`). @default 5_000
   */
  readonly endGraceMs?: number;
}

/** How a rolling update ended, as {@link waitForRoll} saw it. */
export interface RollEnd {
  /** `succeeded`, or why it did not: `failed`, `rolled_back`, `cancelled`. */
  readonly state: Exclude<RollState, 'rolling' | 'paused'>;
  /** The last status record (absent when the update was deleted before a farm ran it). */
  readonly status?: RollStatus;
}

const ENDED: ReadonlySet<RollState> = new Set(['succeeded', 'failed', 'rolled_back', 'cancelled']);

/**
 * Waits until the rolling update `id` ends: its status record reaches `succeeded`, `failed`,
 * `rolled_back` or `cancelled` (written by the roll farm), or the update is deleted while no farm
 * reports on it (cancelled). A paused update is waited for.
 *
 * @example const end = await waitForRoll(store, 'web-v2', { onStatus: (s) => console.log(s.message) });
 * @throws RcError `P2_RC_STORE` when the store cannot be read
 */
export async function waitForRoll(
  store: Store,
  id: string,
  options: WaitForRollOptions = {},
): Promise<RollEnd> {
  const rolls = new RollStore(store);
  let seen = '';
  const read = async (): Promise<RollStatus | undefined> => {
    const status = await rolls.status(id);
    if (status && `${status.updatedAt} ${status.state} ${status.message}` !== seen) {
      seen = `${status.updatedAt} ${status.state} ${status.message}`;
      options.onStatus?.(status);
    }
    return status;
  };
  const ended = (status: RollStatus | undefined): RollEnd | undefined =>
    status && ENDED.has(status.state)
      ? { state: status.state as RollEnd['state'], status }
      : undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const end = ended(await read());
    if (end) return end;
    if (!(await rolls.get(id))) {
      // Deleted: a farm running it writes `succeeded` just after its final transaction deletes the
      // record, and `cancelled` at its next pass; without one, it was cancelled before it ran.
      const graceEnds = Date.now() + (options.endGraceMs ?? 5_000);
      for (;;) {
        const last = await read();
        const end = ended(last);
        if (end) return end;
        if (Date.now() >= graceEnds)
          return { state: 'cancelled', ...(last ? { status: last } : {}) };
        await sleep(Math.min(options.pollMs ?? 1_000, 250), options.signal);
      }
    }
    await sleep(options.pollMs ?? 1_000, options.signal);
  }
}
