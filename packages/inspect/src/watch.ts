import { type Store, watchIndexed } from '@p2/kv';
import { type InspectFilter, type Inspection, inspectStore } from './inspect.js';

/**
 * Yields a fresh inspection each time the store changes (blocking queries on the whole keyspace;
 * results equal to the previous one but for the preparer's `updated` timestamps are skipped). Ends when `signal` aborts. Store errors are
 * retried with backoff and reported to `onError`, so the watch outlives an outage.
 *
 * @example
 * ```ts
 * for await (const inspection of watchInspection(store, { pod: 'hello' }, signal)) render(inspection);
 * ```
 */
export async function* watchInspection(
  store: Store,
  filter: Omit<InspectFilter, 'launchables'>,
  signal: AbortSignal,
  onError?: (error: unknown) => void,
): AsyncGenerator<Inspection, void, undefined> {
  let last = '';
  for await (const _ of watchIndexed(
    (index, waitMs, s) => store.keys('', { index, waitMs, signal: s }),
    {
      signal,
      ...(onError ? { onError } : {}),
    },
  )) {
    const inspection = await inspectStore(store, filter);
    const key = changeKey(inspection);
    if (key === last) continue;
    last = key;
    yield inspection;
  }
}

/** An inspection without its timestamps: a preparer re-publishing an unchanged status is no change. */
function changeKey(inspection: Inspection): string {
  return JSON.stringify(inspection, (name, value) => (name === 'updated' ? undefined : value));
}
