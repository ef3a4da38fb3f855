/**
 * One worker per pod, each with a one-slot "latest intent" mailbox (spec 02 §11.1: the evident intent
 * of P2's code, which instead blocked the dispatcher on busy workers). A slow or failing pod never
 * delays another: dispatching never waits, a newer desired state replaces an unprocessed older one,
 * and failures retry with exponential backoff (1 s doubling to 60 s by default, with jitter) until
 * they succeed or a newer state arrives (which resets the backoff and is attempted at once).
 */

export interface BackoffOptions {
  /** First retry delay. @default 1000 */
  initialMs?: number;
  /** Largest retry delay. @default 60000 */
  maxMs?: number;
  /** Fraction of random jitter added to each delay. @default 0.2 */
  jitter?: number;
}

export interface WorkerEvents<T> {
  /** Called when an attempt fails; the worker retries after `retryInMs`. */
  onFailure?: (key: string, item: T, error: unknown, retryInMs: number, attempt: number) => void;
  onSuccess?: (key: string, item: T, attempt: number) => void;
}

type Process<T> = (key: string, item: T, signal: AbortSignal) => Promise<void>;

class PodWorker<T> {
  private pending: { item: T } | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private delayMs: number;
  private attempt = 0;
  private idle: Promise<void> = Promise.resolve();
  private resolveIdle: (() => void) | undefined;

  constructor(
    private readonly key: string,
    private readonly process: Process<T>,
    private readonly backoff: Required<BackoffOptions>,
    private readonly events: WorkerEvents<T>,
    private readonly signal: AbortSignal,
  ) {
    this.delayMs = backoff.initialMs;
  }

  /** Replaces whatever is waiting with `item` and makes sure it is attempted promptly. */
  offer(item: T): void {
    this.pending = { item };
    this.delayMs = this.backoff.initialMs;
    this.attempt = 0;
    if (this.wake) {
      // A retry is sleeping: a newer state should not wait for the old backoff.
      clearTimeout(this.timer);
      const wake = this.wake;
      this.wake = undefined;
      wake();
    }
    if (!this.running) void this.loop();
  }

  /** Resolves when this worker has nothing in flight and nothing pending. */
  whenIdle(): Promise<void> {
    return this.idle;
  }

  get busy(): boolean {
    return this.running;
  }

  private async loop(): Promise<void> {
    this.running = true;
    this.idle = new Promise((resolve) => {
      this.resolveIdle = resolve;
    });
    try {
      while (this.pending && !this.signal.aborted) {
        const { item } = this.pending;
        this.attempt += 1;
        try {
          await this.process(this.key, item, this.signal);
          if (this.pending?.item === item) this.pending = undefined;
          this.events.onSuccess?.(this.key, item, this.attempt);
          this.delayMs = this.backoff.initialMs;
          this.attempt = 0;
        } catch (error) {
          if (this.signal.aborted) break;
          if (this.pending?.item !== item) continue; // a newer state arrived meanwhile: try it now
          const delay = Math.round(this.delayMs * (1 + Math.random() * this.backoff.jitter));
          this.events.onFailure?.(this.key, item, error, delay, this.attempt);
          this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            this.timer = setTimeout(() => {
              this.wake = undefined;
              resolve();
            }, delay);
            this.signal.addEventListener('abort', () => resolve(), { once: true });
          });
        }
      }
    } finally {
      this.running = false;
      this.resolveIdle?.();
    }
  }
}

/** Per-key workers with one-slot mailboxes. */
export class WorkerPool<T> {
  private readonly workers = new Map<string, PodWorker<T>>();
  private readonly backoff: Required<BackoffOptions>;
  private readonly controller = new AbortController();

  constructor(
    private readonly process: Process<T>,
    options: BackoffOptions & WorkerEvents<T> = {},
  ) {
    this.backoff = {
      initialMs: options.initialMs ?? 1000,
      maxMs: options.maxMs ?? 60_000,
      jitter: options.jitter ?? 0.2,
    };
    this.events = { onFailure: options.onFailure, onSuccess: options.onSuccess };
  }

  private readonly events: WorkerEvents<T>;

  /** Hands `item` to the worker for `key` without waiting for it. */
  dispatch(key: string, item: T): void {
    if (this.controller.signal.aborted) return;
    let worker = this.workers.get(key);
    if (!worker) {
      worker = new PodWorker(key, this.process, this.backoff, this.events, this.controller.signal);
      this.workers.set(key, worker);
    }
    worker.offer(item);
  }

  /** Keys whose worker is processing right now. */
  busyKeys(): string[] {
    return [...this.workers.entries()].filter(([, w]) => w.busy).map(([k]) => k);
  }

  /** Resolves once every worker is idle (in-flight attempts finished; sleeping retries count as busy). */
  async drain(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.whenIdle()));
  }

  /** Stops retrying; waits for in-flight attempts to finish (they see an aborted signal). */
  async close(): Promise<void> {
    this.controller.abort();
    await this.drain();
  }
}
