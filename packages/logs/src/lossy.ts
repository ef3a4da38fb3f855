/**
 * The lossy copy of a log stream: lines go to a destination at a bounded rate through a bounded
 * queue; what does not fit is dropped and counted. Nothing here ever waits for the destination,
 * so the writer of the lines (the durable copy, the app behind it) never does either.
 */
import { connect, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { LogsError, LogsErrorCode } from './errors.js';

/** Where the lossy copy goes. */
export type LossyDestination =
  | { readonly type: 'none' }
  | { readonly type: 'stdout' }
  /** A unix stream socket (a log shipper's), one line per record; reconnected when it goes away. */
  | { readonly type: 'unix'; readonly path: string };

/**
 * Reads a destination as written on a command line: `none`, `stdout` or `unix:PATH`.
 * @throws LogsError `P2_LOGS_INVALID_OPTIONS`
 * @example parseLossyDestination('unix:/run/vector/p2.sock') // { type: 'unix', path: '/run/vector/p2.sock' }
 */
export function parseLossyDestination(text: string): LossyDestination {
  if (text === 'none' || text === 'stdout') return { type: text };
  if (text.startsWith('unix:') && text.length > 'unix:'.length && text[5] === '/')
    return { type: 'unix', path: text.slice('unix:'.length) };
  throw new LogsError(
    LogsErrorCode.INVALID_OPTIONS,
    `lossy destination ${JSON.stringify(text)} is not none, stdout or unix:/absolute/path`,
    { details: { option: 'lossy-to' } },
  );
}

/** Limits of the lossy copy (P2's log bridge: 1024 lines/s, 4096 B/s, 1024 lines queued). */
export interface LossyLimits {
  /** @default 1024 */
  linesPerSecond?: number;
  /** @default 4096 */
  bytesPerSecond?: number;
  /** Lines queued for the destination; more are dropped. @default 1024 */
  bufferLines?: number;
  /** Longer lines are cut (`truncated`) in the lossy copy only. @default 4096 */
  maxLineBytes?: number;
}

/** What the lossy copy did. */
export interface LossyReport {
  /** Lines handed to the destination. */
  sent: number;
  /** Lines dropped: queue full, destination absent or slow, or still queued at the end. */
  dropped: number;
  /** Lines cut to `maxLineBytes`. */
  truncated: number;
}

/** Resolved limits. @internal */
export type ResolvedLimits = Required<LossyLimits>;

/**
 * Checks and fills in {@link LossyLimits}.
 * @throws LogsError `P2_LOGS_INVALID_OPTIONS`
 * @internal
 */
export function resolveLimits(limits: LossyLimits = {}): ResolvedLimits {
  const resolved = {
    linesPerSecond: limits.linesPerSecond ?? 1024,
    bytesPerSecond: limits.bytesPerSecond ?? 4096,
    bufferLines: limits.bufferLines ?? 1024,
    maxLineBytes: limits.maxLineBytes ?? 4096,
  };
  for (const [option, value] of Object.entries(resolved))
    if (!Number.isInteger(value) || value < 1)
      throw new LogsError(
        LogsErrorCode.INVALID_OPTIONS,
        `${option} must be a positive integer, found ${JSON.stringify(value)}`,
        { details: { option } },
      );
  return resolved;
}

/** A token bucket holding at most one second of `ratePerSecond` (at least `minCapacity`). */
class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #at = performance.now();

  constructor(ratePerSecond: number, minCapacity = 0) {
    this.#rate = ratePerSecond / 1000;
    this.#capacity = Math.max(ratePerSecond, minCapacity);
    this.#tokens = this.#capacity;
  }

  /** Milliseconds until `cost` tokens are there (0: now). */
  waitFor(cost: number): number {
    const now = performance.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#rate);
    this.#at = now;
    return this.#tokens >= cost ? 0 : Math.ceil((cost - this.#tokens) / this.#rate);
  }

  take(cost: number): void {
    this.#tokens -= cost;
  }
}

/**
 * Splits a byte stream into lines of at most `maxLineBytes` (the rest of a longer line is
 * discarded), so a line without end never grows memory.
 * @internal
 */
export class LineSplitter {
  #parts: Buffer[] = [];
  #bytes = 0;
  #truncated = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly emit: (line: Buffer, truncated: boolean) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      this.#add(chunk.subarray(start, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      this.#flush();
      start = newline + 1;
    }
  }

  /** Emits a last line without a newline. */
  end(): void {
    if (this.#bytes > 0 || this.#truncated) this.#flush();
  }

  #add(piece: Buffer): void {
    const room = this.maxLineBytes - this.#bytes;
    if (piece.length > room) this.#truncated = true;
    const kept = piece.length > room ? piece.subarray(0, room) : piece;
    if (kept.length === 0) return;
    // Copied: the chunk's memory is reused by the reader.
    this.#parts.push(Buffer.from(kept));
    this.#bytes += kept.length;
  }

  #flush(): void {
    this.emit(Buffer.concat(this.#parts, this.#bytes), this.#truncated);
    this.#parts = [];
    this.#bytes = 0;
    this.#truncated = false;
  }
}

/** A destination lines are written to; `ready` is false while it cannot take more. @internal */
interface LineSink {
  readonly ready: boolean;
  write(data: string | Buffer): void;
  /** Calls `wake` whenever the sink becomes ready again. */
  onReady(wake: () => void): void;
  close(): void;
}

/** Lines to a stream (stdout). A stream that fails (a reader gone) stays not ready. */
class StreamSink implements LineSink {
  #blocked = false;
  #broken = false;
  #wake: () => void = () => {};

  constructor(private readonly stream: Writable) {
    stream.on('drain', () => {
      this.#blocked = false;
      this.#wake();
    });
    stream.on('error', () => {
      this.#broken = true;
    });
  }

  get ready(): boolean {
    return !this.#blocked && !this.#broken;
  }

  write(data: string | Buffer): void {
    if (!this.stream.write(data)) this.#blocked = true;
  }

  onReady(wake: () => void): void {
    this.#wake = wake;
  }

  close(): void {}
}

/** Lines to a unix stream socket: not ready while disconnected; reconnects every `retryMs`. */
class UnixSocketSink implements LineSink {
  #socket: Socket | undefined;
  #connected = false;
  #blocked = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  #wake: () => void = () => {};

  constructor(
    private readonly path: string,
    private readonly retryMs: number,
  ) {
    this.#connect();
  }

  get ready(): boolean {
    return this.#connected && !this.#blocked;
  }

  write(data: string | Buffer): void {
    if (this.#socket && !this.#socket.write(data)) this.#blocked = true;
  }

  onReady(wake: () => void): void {
    this.#wake = wake;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#socket?.destroy();
  }

  #connect(): void {
    const socket = connect({ path: this.path });
    this.#socket = socket;
    socket.on('connect', () => {
      this.#connected = true;
      this.#blocked = false;
      this.#wake();
    });
    socket.on('drain', () => {
      this.#blocked = false;
      this.#wake();
    });
    // Whatever the receiver sends back is not ours to keep.
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#connected = false;
      this.#socket = undefined;
      if (!this.#closed) this.#retry = setTimeout(() => this.#connect(), this.retryMs);
    });
  }
}

/** Options of {@link LossyCopy}. @internal */
export interface LossyCopyOptions {
  destination: LossyDestination;
  limits: ResolvedLimits;
  /** `json`: one object per line with `context`; `raw`: the line as it came. */
  format: 'raw' | 'json';
  /** Fields of every JSON record (which pod, launchable, service). */
  context: Readonly<Record<string, string>>;
  /** The stream `stdout` means. */
  stdout: Writable;
  /** How long to wait before connecting again to a unix socket. @default 1000 */
  reconnectMs?: number;
}

/**
 * The lossy copy: {@link LossyCopy.push} never blocks; lines wait in a queue of `bufferLines`
 * for the rate limits and the destination, and are dropped (counted) when the queue is full.
 * @internal
 */
export class LossyCopy {
  readonly report: LossyReport = { sent: 0, dropped: 0, truncated: 0 };
  readonly #queue: Array<{ line: Buffer; truncated: boolean; time: Date }> = [];
  readonly #lines: TokenBucket;
  readonly #bytes: TokenBucket;
  readonly #sink: LineSink | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Dropped since the last record sent (reported in the next JSON record's place). */
  #unreported = 0;

  constructor(private readonly options: LossyCopyOptions) {
    const { limits, destination } = options;
    this.#lines = new TokenBucket(limits.linesPerSecond);
    this.#bytes = new TokenBucket(limits.bytesPerSecond, limits.maxLineBytes + 1);
    this.#sink =
      destination.type === 'none'
        ? undefined
        : destination.type === 'stdout'
          ? new StreamSink(options.stdout)
          : new UnixSocketSink(destination.path, options.reconnectMs ?? 1000);
    this.#sink?.onReady(() => this.#pump());
  }

  /** Queues one line (or drops it, counted). Never waits. */
  push(line: Buffer, truncated: boolean): void {
    if (truncated) this.report.truncated++;
    if (this.#sink === undefined) return;
    if (this.#queue.length >= this.options.limits.bufferLines) {
      this.report.dropped++;
      this.#unreported++;
      return;
    }
    this.#queue.push({ line, truncated, time: new Date() });
    this.#pump();
  }

  /** Stops: lines still queued count as dropped. */
  close(): LossyReport {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.report.dropped += this.#queue.length;
    this.#queue.length = 0;
    this.#sink?.close();
    return this.report;
  }

  #pump(): void {
    const sink = this.#sink;
    if (sink === undefined || this.#timer !== undefined) return;
    while (this.#queue.length > 0 && sink.ready) {
      const next = this.#queue[0] as { line: Buffer; truncated: boolean; time: Date };
      const cost = next.line.length + 1;
      const wait = Math.max(this.#lines.waitFor(1), this.#bytes.waitFor(cost));
      if (wait > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, wait);
        return;
      }
      this.#lines.take(1);
      this.#bytes.take(cost);
      this.#queue.shift();
      if (this.options.format === 'json' && this.#unreported > 0) {
        sink.write(this.#record({ dropped: this.#unreported }, next.time));
        this.#unreported = 0;
      }
      sink.write(
        this.options.format === 'json'
          ? this.#record(
              { line: next.line.toString('utf8'), ...(next.truncated ? { truncated: true } : {}) },
              next.time,
            )
          : Buffer.concat([next.line, Buffer.from('\n')]),
      );
      this.report.sent++;
    }
  }

  #record(fields: Record<string, unknown>, time: Date): string {
    return `${JSON.stringify({ time: time.toISOString(), ...this.options.context, ...fields })}\n`;
  }
}
