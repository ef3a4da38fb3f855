/**
 * Watches as `AsyncIterable`s over blocking queries.
 *
 * The loop carries the index forward, resets it when the store reports a lower one (restore, reaped
 * tombstones, a replaced server), treats index 0 as 1, never re-issues faster than a token bucket
 * allows (burst 2), and backs off exponentially with jitter on errors (100 ms × 2^n, capped at 30 s),
 * resetting after a success. 400/403 answers and a closed store end the watch with the error:
 * retrying cannot help.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { KvError, KvErrorCodes } from './errors.js';
import type { Indexed, KvEntry, Store } from './types.js';

/** Options of every watch. */
export interface WatchOptions {
  /** Stops the watch; the iterator then ends without an error. */
  signal?: AbortSignal;
  /** Longest blocking wait per request. @default 30_000 */
  waitMs?: number;
  /** Minimum spacing of requests once the burst (2) is used up. @default 100 */
  minIntervalMs?: number;
  /** First retry delay after an error. @default 100 */
  backoffBaseMs?: number;
  /** Longest retry delay. @default 30_000 */
  backoffMaxMs?: number;
  /** Called for every error the watch retries (it keeps going). */
  onError?: (error: unknown) => void;
  logger?: Logger;
}

/**
 * Sleeps `ms`, or less when `signal` aborts: resolves either way and never throws on abort — what
 * a retry loop wants between attempts (`node:timers/promises` rejects on abort).
 * @example await sleep(2_000, signal)
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch((error: unknown) => {
    if ((error as Error | undefined)?.name !== 'AbortError') throw error;
  });
}

function fatal(error: unknown): boolean {
  if (!(error instanceof KvError)) return false;
  if (
    error.code === KvErrorCodes.PERMISSION_DENIED ||
    error.code === KvErrorCodes.INVALID_KEY ||
    error.code === KvErrorCodes.ABORTED // the store was closed under the watch
  ) {
    return true;
  }
  return error.code === KvErrorCodes.REQUEST_FAILED && error.details.status === 400;
}

/**
 * The generic watch loop: `read(index, signal)` performs one (blocking) read. Yields the first answer,
 * then every answer whose index differs from the last one seen.
 *
 * @throws KvError when the store answers 400/403 (the watch cannot succeed by retrying).
 */
export async function* watchIndexed<T>(
  read: (index: number, waitMs: number, signal: AbortSignal) => Promise<Indexed<T>>,
  options: WatchOptions = {},
): AsyncGenerator<Indexed<T>, void, undefined> {
  const controller = new AbortController();
  const stop = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) return;
  options.signal?.addEventListener('abort', stop, { once: true });
  const signal = controller.signal;
  const waitMs = options.waitMs ?? 30_000;
  const interval = options.minIntervalMs ?? 100;
  const base = options.backoffBaseMs ?? 100;
  const max = options.backoffMaxMs ?? 30_000;
  let tokens = 2;
  // Monotonic: a wall clock set back an hour would otherwise stall the watch for an hour.
  let refilledAt = performance.now();
  let index = 0;
  let failures = 0;
  try {
    while (!signal.aborted) {
      // Token bucket: a burst of 2, then one request per `interval`.
      const now = performance.now();
      tokens = Math.min(2, tokens + (now - refilledAt) / interval);
      refilledAt = now;
      if (tokens < 1) {
        await sleep((1 - tokens) * interval, signal);
        continue;
      }
      tokens -= 1;
      let answer: Indexed<T>;
      try {
        answer = await read(index, waitMs, signal);
      } catch (error) {
        if (signal.aborted) return;
        if (fatal(error)) throw error;
        failures++;
        const delay = Math.min(max, base * 2 ** (failures - 1));
        options.onError?.(error);
        options.logger?.warn(
          { err: error, retryInMs: Math.round(delay) },
          'watch request failed; retrying',
        );
        await sleep(delay / 2 + Math.random() * (delay / 2), signal);
        continue;
      }
      failures = 0;
      const next = Math.max(1, answer.index);
      if (index !== 0 && next === index) continue; // timeout or spurious wake-up: no change
      if (next < index)
        options.logger?.info({ from: index, to: next }, 'store index went backwards; resetting');
      index = next;
      yield { value: answer.value, index: next };
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    controller.abort();
  }
}

/**
 * Watches one key: yields its entry (`undefined` while absent) on every change.
 * @example
 * ```ts
 * for await (const { value: entry } of watchKey(store, 'intent/node1/hello', { signal })) {
 *   console.log(entry ? 'scheduled' : 'removed');
 * }
 * ```
 */
export function watchKey(
  store: Store,
  key: string,
  options: WatchOptions = {},
): AsyncGenerator<Indexed<KvEntry | undefined>, void, undefined> {
  return watchIndexed(
    (index, waitMs, signal) => store.get(key, { index, waitMs, signal }),
    options,
  );
}

/** Watches every entry under a prefix: yields the whole sorted list on every change. */
export function watchPrefix(
  store: Store,
  prefix: string,
  options: WatchOptions = {},
): AsyncGenerator<Indexed<KvEntry[]>, void, undefined> {
  return watchIndexed(
    (index, waitMs, signal) => store.list(prefix, { index, waitMs, signal }),
    options,
  );
}

/** Watches the key names under a prefix. */
export function watchKeys(
  store: Store,
  prefix: string,
  options: WatchOptions & { separator?: string } = {},
): AsyncGenerator<Indexed<string[]>, void, undefined> {
  return watchIndexed(
    (index, waitMs, signal) =>
      store.keys(prefix, { index, waitMs, signal, separator: options.separator }),
    options,
  );
}
