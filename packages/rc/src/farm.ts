import { hostname } from 'node:os';
import type { Store } from '@p2/kv';
import { LabelStore, type Selector } from '@p2/labels';
import type { Logger } from 'pino';
import {
  type ControllerContext,
  RcWorker,
  type ReconcileResult,
  rcOwnershipLockKey,
} from './controller.js';
import { idFromKey, RC_PREFIX } from './records.js';
import { silentLogger, sleep } from './util.js';

/** Options of an {@link RcFarm}. */
export interface RcFarmOptions {
  /** Session TTL. @default 15_000 */
  readonly sessionTtlMs?: number;
  /** Lock-delay of the farm session (another farm waits this long after this one dies). @default 5_000 */
  readonly lockDelayMs?: number;
  /** Longest blocking wait on the RC key listing; the farm re-checks ownership at least this often. @default 30_000 */
  readonly pollMs?: number;
  /** Passed to each RC worker. @default 30_000 */
  readonly resyncMs?: number;
  /** Only claim RCs whose RC labels match. @default everything */
  readonly rcSelector?: Selector;
  /** Session name. @default `p2-rc-farm:<hostname>:<ISO time>` */
  readonly sessionName?: string;
  /** Called with errors of workers and of the farm loop. */
  readonly onError?: (error: unknown, rcId?: string) => void;
  /** Called after every successful pass of any worker. */
  readonly onPass?: (rcId: string, result: ReconcileResult) => void;
}

/**
 * Claims replication controllers through session locks (`lock/replication_controllers/<id>`) and
 * runs a worker for each one it holds; several farms cooperate through the locks alone (P2's RC
 * farm, spec 03 §1.2). When the session is lost every worker stops; a new session is created and
 * RCs are claimed again. Every write of a worker proves the lock is still held.
 *
 * Deviation from P2: P2 crashed the process when it listed no RCs or only RCs with 0 replicas (a
 * failsafe against reading an empty store); this farm raises the same high-urgency alert and skips
 * that pass instead of crashing.
 *
 * @example
 * ```ts
 * const farm = new RcFarm({ store }, { resyncMs: 5_000 }).start();
 * // … later
 * await farm.stop();
 * ```
 */
export class RcFarm {
  readonly #abort = new AbortController();
  readonly #children = new Map<string, RcWorker>();
  readonly #log: Logger;
  readonly #labels: LabelStore;
  #done: Promise<void> | undefined;
  #session: string | undefined;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly options: RcFarmOptions = {},
  ) {
    this.#log = ctx.logger ?? silentLogger;
    this.#labels = ctx.labels ?? new LabelStore(ctx.store);
  }

  /** RC ids this farm currently runs. */
  get owned(): string[] {
    return [...this.#children.keys()].sort();
  }

  /** The current session id, if any. */
  get session(): string | undefined {
    return this.#session;
  }

  /** Starts the farm (idempotent). */
  start(): this {
    this.#done ??= this.#run();
    return this;
  }

  /** Stops every worker, releases the locks and destroys the session. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const store = this.ctx.store;
    let backoff = 1_000;
    while (!signal.aborted) {
      let session: string;
      try {
        session = await store.createSession({
          name: this.options.sessionName ?? `p2-rc-farm:${hostname()}:${new Date().toISOString()}`,
          ttlMs: this.options.sessionTtlMs ?? 15_000,
          lockDelayMs: this.options.lockDelayMs ?? 5_000,
          behavior: 'delete',
        });
      } catch (error) {
        this.options.onError?.(error);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      backoff = 1_000;
      this.#session = session;
      const lost = new AbortController();
      const onStop = () => lost.abort();
      signal.addEventListener('abort', onStop, { once: true });
      const renewal = this.#renew(session, lost);
      try {
        await this.#claimLoop(session, lost.signal);
      } catch (error) {
        if (!lost.signal.aborted) this.options.onError?.(error);
      } finally {
        lost.abort();
        signal.removeEventListener('abort', onStop);
        await renewal;
        await this.#releaseAll(session);
        this.#session = undefined;
        await store.destroySession(session).catch(() => undefined);
      }
      if (!signal.aborted) this.#log.warn('farm session lost; starting a new one');
    }
  }

  async #renew(session: string, lost: AbortController): Promise<void> {
    const interval = (this.options.sessionTtlMs ?? 15_000) / 2;
    while (!lost.signal.aborted) {
      await sleep(interval, lost.signal);
      if (lost.signal.aborted) return;
      try {
        const info = await this.ctx.store.renewSession(session);
        if (!info) {
          this.#log.warn({ session }, 'farm session expired');
          lost.abort();
        }
      } catch (error) {
        this.options.onError?.(error);
      }
    }
  }

  async #claimLoop(session: string, signal: AbortSignal): Promise<void> {
    const store = this.ctx.store;
    let index = 0;
    while (!signal.aborted) {
      const listing = await store.keys(RC_PREFIX, {
        index,
        waitMs: this.options.pollMs ?? 30_000,
        signal,
      });
      index = listing.index < index ? 0 : listing.index;
      const ids = listing.value
        .map((k) => idFromKey(RC_PREFIX, k))
        .filter((id): id is string => id !== undefined);
      if (ids.length === 0) {
        this.ctx.alert?.({
          urgency: 'high',
          incidentKey: 'no_rcs_found',
          description:
            'the RC farm found no replication controllers; skipping this pass (P2 would crash)',
        });
        continue;
      }
      const locked = new Set(
        (await store.keys('lock/replication_controllers/', { signal })).value
          .map((k) => k.slice('lock/replication_controllers/'.length))
          .filter((rest) => rest !== '' && !rest.includes('/')),
      );
      for (const id of ids) {
        if (signal.aborted) return;
        if (this.#children.has(id) || locked.has(id)) continue;
        if (this.options.rcSelector && !this.options.rcSelector.isEverything()) {
          const labels = await this.#labels.get('replication_controller', id);
          if (!this.options.rcSelector.matches(labels.labels)) continue;
        }
        const acquired = await store.acquire(rcOwnershipLockKey(id), '', session, { signal });
        if (!acquired) continue;
        this.#spawn(id, session);
      }
      for (const id of [...this.#children.keys()]) {
        if (!ids.includes(id)) await this.#release(id, session);
      }
    }
  }

  #spawn(id: string, session: string): void {
    const worker = new RcWorker(this.ctx, id, {
      session,
      resyncMs: this.options.resyncMs ?? 30_000,
      onError: (error) => this.options.onError?.(error, id),
      onPass: (result) => this.options.onPass?.(id, result),
    }).start();
    this.#children.set(id, worker);
    this.#log.info({ rc: id }, 'claimed replication controller');
    void worker.done.then(() => {
      // The worker ends by itself when its RC is deleted: give the RC up.
      if (this.#children.get(id) === worker) void this.#release(id, session);
    });
  }

  async #release(id: string, session: string): Promise<void> {
    const worker = this.#children.get(id);
    if (!worker) return;
    this.#children.delete(id);
    await worker.stop();
    await unlock(this.ctx.store, rcOwnershipLockKey(id), session);
  }

  async #releaseAll(session: string): Promise<void> {
    await Promise.all([...this.#children.keys()].map((id) => this.#release(id, session)));
  }
}

/**
 * P2's unlock: read the key; absent → done; held by this session → delete-CAS at its index (the
 * key goes, like a session with behaviour delete). Best effort: errors are swallowed. @internal
 */
export async function unlock(store: Store, key: string, session: string): Promise<void> {
  try {
    const entry = (await store.get(key)).value;
    if (entry && entry.session === session) await store.deleteCas(key, entry.modifyIndex);
  } catch {
    // the lock goes with the session anyway
  }
}
