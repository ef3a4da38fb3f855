/** The loop every per-record controller worker shares (RC workers, daemon set workers). */
import { labelTypePrefix } from '@p2/keyspace';
import type { KvEntry, Store } from '@p2/kv';
import type { FarmChild } from './lock-farm.js';
import { sleep, storeError, type WatchState, waitForRecordOrNodes } from './util.js';

/** Options every {@link RecordWorker} takes. */
export interface RecordWorkerOptions {
  /** Longest wait of each blocking read of the record; a pass runs on every return. @default 30_000 */
  readonly resyncMs?: number;
  /** Called with every store error while watching and every failed pass (the loop goes on). */
  readonly onError?: (error: unknown) => void;
  /** Called after every pass with its outcome (metrics). */
  readonly onReconcile?: (outcome: 'success' | 'failure') => void;
}

/**
 * Runs passes over one controller record until stopped or the record is deleted: a blocking read
 * of the record and of the node label records, then a pass, on every change and at least every
 * `resyncMs` (so node label changes are picked up), as P2's workers did. A store error while
 * watching is reported as `P2_RC_STORE` and retried after 2 s; a failed pass is retried on the
 * next return.
 *
 * @example
 * ```ts
 * class Printer extends RecordWorker {
 *   constructor(store: Store) { super(store, 'replication_controllers/x'); }
 *   protected override async pass(entry: KvEntry) { console.log(entry.modifyIndex); }
 * }
 * const worker = new Printer(store).start();
 * await worker.stop();
 * ```
 */
export abstract class RecordWorker implements FarmChild {
  readonly #abort = new AbortController();
  readonly #store: Store;
  readonly #key: string;
  readonly #options: RecordWorkerOptions;
  #done: Promise<void> | undefined;

  protected constructor(store: Store, key: string, options: RecordWorkerOptions = {}) {
    this.#store = store;
    this.#key = key;
    this.#options = options;
  }

  /** Starts the loop (idempotent). */
  start(): this {
    this.#done ??= this.#run();
    return this;
  }

  /** Stops the loop and waits for the current pass to end. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }

  /** Resolves when the loop ends (stopped, or the record was deleted). */
  get done(): Promise<void> {
    return this.#done ?? Promise.resolve();
  }

  /** One pass over the record as it now stands. */
  protected abstract pass(entry: KvEntry): Promise<void>;

  /** Called once when the record is gone (a rejection goes to `onError`); the loop then ends. */
  protected deleted(): void | Promise<void> {}

  /**
   * A prefix whose changes should also wake the worker, asked before every wait, with the index
   * from which a change counts (read before the pass that asked for it, so none is missed): a
   * daemon set replacing its pods waits on their health, not for the next resync.
   * @default none
   */
  protected wakeOn(): { prefix: string; index: number } | undefined {
    return undefined;
  }

  /** Called with the error of a failed pass (not when stopping). @default `onError` */
  protected failed(error: unknown): void {
    this.#options.onError?.(error);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const key = this.#key;
    const state: WatchState = { record: 0, nodes: 0 };
    let lastPassMs = 0;
    while (!signal.aborted) {
      let entry: KvEntry | undefined;
      try {
        if (state.nodes === 0)
          state.nodes = (await this.#store.keys(labelTypePrefix('node'), { signal })).index;
        const wake = this.wakeOn();
        if (wake?.prefix !== state.extra?.prefix) state.extra = wake && { ...wake };
        // A wake-up by `wakeOn`'s prefix waits as long as the last pass took (100 ms … 1 s), so
        // that a burst of changes (a fleet's health reports) makes a few passes, not one each:
        // the worker spends at most about half its time in passes.
        state.extraSettleMs = Math.min(1000, Math.max(100, lastPassMs));
        entry = await waitForRecordOrNodes(
          this.#store,
          key,
          state,
          this.#options.resyncMs ?? 30_000,
          signal,
        );
      } catch (error) {
        if (signal.aborted) return;
        this.#options.onError?.(storeError(`watching ${key}`, error));
        await sleep(2_000, signal);
        continue;
      }
      if (signal.aborted) return;
      if (!entry) {
        try {
          await this.deleted();
        } catch (error) {
          this.#options.onError?.(error);
        }
        return;
      }
      const passStarted = Date.now();
      try {
        await this.pass(entry);
        lastPassMs = Date.now() - passStarted;
        this.#options.onReconcile?.('success');
      } catch (error) {
        if (signal.aborted) return;
        this.#options.onReconcile?.('failure');
        this.failed(error);
      }
    }
  }
}
