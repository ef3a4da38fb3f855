/**
 * A unix socket log destination as P2's preparer had (`extra_log_destinations`, `type: socket`):
 * each entry is sent on a connection of its own, so a receiver reads one JSON object per
 * connection. It never blocks and never throws: an entry that cannot be delivered is dropped and
 * counted.
 */
import { connect } from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import { distrustAncestors } from '@p2/secure-fs';
import { LogsError, LogsErrorCode } from './errors.js';

/** A drop, as {@link SocketLogDestinationOptions.onDrop} is told. */
export interface SocketLogDrop {
  path: string;
  /** Entries dropped since the last report. */
  dropped: number;
  /** Entries dropped since the destination was opened. */
  total: number;
  /** Why the last one was: `ENOENT` (no socket), `ECONNREFUSED`, `timeout`, `queue full`, … */
  reason: string;
}

/** Options of {@link SocketLogDestination}. */
export interface SocketLogDestinationOptions {
  /** Entries being delivered at once; more wait in the queue. @default 16 */
  maxConnections?: number;
  /** Entries waiting for a connection; more are dropped. @default 1024 */
  maxQueued?: number;
  /** An entry not delivered by then is dropped and its connection closed. @default 5000 */
  timeoutMs?: number;
  /**
   * Told about drops: the first at once, later ones at most every `reportEveryMs` (a warning to
   * log; it runs outside `write`, so logging from it cannot recurse).
   */
  onDrop?: (drop: SocketLogDrop) => void;
  /** @default 60000 */
  reportEveryMs?: number;
}

/**
 * Sends each log entry written to it (one JSON line from pino) on its own connection to a unix
 * socket. Fits `pino.multistream`: `write` queues and returns at once, whether the socket is
 * there, slow or gone.
 *
 * @example
 * ```ts
 * const socket = await openSocketLogDestination('/var/log/p2-socket.out', { onDrop: (d) => console.warn(d) });
 * const logger = pino({}, pino.multistream([{ stream: process.stdout }, { stream: socket }]));
 * ```
 */
export class SocketLogDestination {
  /** Entries delivered and dropped so far. */
  readonly stats = { sent: 0, dropped: 0 };
  readonly #queue: string[] = [];
  readonly #maxConnections: number;
  readonly #maxQueued: number;
  readonly #timeoutMs: number;
  readonly #reportEveryMs: number;
  #open = 0;
  #unreported = 0;
  #reportedAt = Number.NEGATIVE_INFINITY;
  #idle: Array<() => void> = [];

  constructor(
    readonly path: string,
    private readonly options: SocketLogDestinationOptions = {},
  ) {
    this.#maxConnections = options.maxConnections ?? 16;
    this.#maxQueued = options.maxQueued ?? 1024;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#reportEveryMs = options.reportEveryMs ?? 60_000;
  }

  /** Queues one entry for delivery (or drops it, counted). Never blocks, never throws. */
  write(entry: string): boolean {
    if (this.#queue.length >= this.#maxQueued) this.#drop('queue full');
    else {
      this.#queue.push(entry);
      this.#next();
    }
    return true;
  }

  /** Resolves once every queued entry was delivered or dropped. */
  flush(): Promise<void> {
    if (this.#open === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #next(): void {
    while (this.#open < this.#maxConnections && this.#queue.length > 0) {
      const entry = this.#queue.shift() as string;
      this.#open++;
      this.#deliver(entry, () => {
        this.#open--;
        this.#next();
        if (this.#open === 0 && this.#queue.length === 0) {
          const idle = this.#idle;
          this.#idle = [];
          for (const resolve of idle) resolve();
        }
      });
    }
  }

  #deliver(entry: string, done: () => void): void {
    let settled = false;
    const socket = connect({ path: this.path });
    const settle = (failure?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (failure === undefined) this.stats.sent++;
      else this.#drop(failure);
      done();
    };
    const timer = setTimeout(() => settle('timeout'), this.#timeoutMs);
    socket.on('error', (error: NodeJS.ErrnoException) => settle(error.code ?? 'error'));
    // Whatever the receiver sends back is not ours to keep.
    socket.on('data', () => {});
    socket.on('connect', () => socket.end(entry, () => settle()));
  }

  #drop(reason: string): void {
    this.stats.dropped++;
    this.#unreported++;
    const onDrop = this.options.onDrop;
    const now = performance.now();
    if (onDrop === undefined || now - this.#reportedAt < this.#reportEveryMs) return;
    this.#reportedAt = now;
    const drop = {
      path: this.path,
      dropped: this.#unreported,
      total: this.stats.dropped,
      reason,
    };
    this.#unreported = 0;
    setImmediate(() => onDrop(drop));
  }
}

/**
 * Opens a {@link SocketLogDestination} once its path is safe for root to connect to: absolute, in
 * a directory that only root can change (and every directory above), so nobody else can put a
 * socket of theirs, or a link to another one, at that path. The socket itself may come later.
 *
 * @throws LogsError `P2_LOGS_INVALID_OPTIONS` (relative path), `P2_LOGS_UNTRUSTED_SOCKET`
 * @example await openSocketLogDestination('/var/log/p2-socket.out')
 */
export async function openSocketLogDestination(
  path: string,
  options: SocketLogDestinationOptions = {},
): Promise<SocketLogDestination> {
  if (!isAbsolute(path))
    throw new LogsError(
      LogsErrorCode.INVALID_OPTIONS,
      `socket log destination ${JSON.stringify(path)} must be an absolute path`,
      { details: { option: 'path' } },
    );
  const untrusted = await distrustAncestors(dirname(path));
  if (untrusted)
    throw new LogsError(
      LogsErrorCode.UNTRUSTED_SOCKET,
      `socket log destination ${path}: ${untrusted.dir} ${untrusted.why}`,
      {
        hint: 'put the socket in a directory only root can write (e.g. /run/p2-logs, root 0755), so no other user can place a socket there',
        details: { path, dir: untrusted.dir },
      },
    );
  return new SocketLogDestination(path, options);
}
