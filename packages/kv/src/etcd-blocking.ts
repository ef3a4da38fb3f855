/** Consul's blocking queries on etcd: a watch from the awaited revision, then a read. */
import { describeError } from '@p2/errors';
import type { Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { EtcdConnection } from './etcd-connection.js';
import type { Indexed, ReadOptions } from './types.js';

/** An etcd key, or a key range `[key, end)`. */
export interface EtcdRange {
  key: Buffer;
  end?: Buffer;
}

/**
 * A Consul blocking query on etcd: watch the range from `index + 1` (history replays anything
 * already newer), wait for the first event or the timeout, then read. A compacted start revision
 * ends the wait at once (like Consul's index reset).
 */
export async function blockingRead<T>(
  conn: EtcdConnection,
  what: string,
  range: EtcdRange,
  options: ReadOptions | undefined,
  defaults: { waitMs: number; logger: Logger | undefined },
  read: () => Promise<Indexed<T>>,
): Promise<Indexed<T>> {
  const index = options?.index;
  if (index === undefined || index <= 0) return read();
  const waitMs = Math.min(Math.max(options?.waitMs ?? defaults.waitMs, 0), 600_000);
  const woke = await waitForEvent(
    conn,
    what,
    range,
    index + 1,
    waitMs,
    options?.signal,
    defaults.logger,
  );
  const answer = await read();
  return woke === undefined ? answer : { ...answer, index: Math.max(answer.index, woke) };
}

/** The revision of the first change in `range` from `fromRevision` on; `undefined` on timeout. */
async function waitForEvent(
  conn: EtcdConnection,
  what: string,
  range: EtcdRange,
  fromRevision: number,
  waitMs: number,
  signal: AbortSignal | undefined,
  logger: Logger | undefined,
): Promise<number | undefined> {
  // `watcher()` (not `create()`): the wait is bounded by `waitMs` even while the watch stream is
  // reconnecting to another member; a later read then reports an unreachable cluster.
  const watcher = await conn.call<Watcher>(`${what} (watch)`, signal, async (c) => {
    const builder = c.watch().startRevision(String(fromRevision));
    return (
      range.end ? builder.inRange({ start: range.key, end: range.end }) : builder.key(range.key)
    ).watcher();
  });
  let stop: () => void = () => {};
  try {
    return await new Promise<number | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      const onAbort = () => reject(signal ? conn.aborted(what, signal) : undefined);
      stop = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        conn.watchers.delete(onClose);
      };
      const onClose = () => reject(conn.closedError(what));
      conn.watchers.add(onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
      watcher.on('data', (res) => {
        const first = res.events?.[0];
        if (first?.kv) resolve(Number(first.kv.mod_revision));
      });
      watcher.on('error', (error) => {
        // Compaction or a cancelled watch: answer now; the caller re-reads.
        logger?.debug({ err: describeError(error), what }, 'etcd watch ended early');
        resolve(undefined);
      });
    });
  } finally {
    stop();
    watcher.cancel().catch(() => {});
  }
}
