/** Claiming controller records through session locks: the loop every farm shares. */
import { hostname } from 'node:os';
import { idFromKey } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import type { Logger } from 'pino';
import { silentLogger, sleep } from './util.js';

/** Options every farm takes. */
export interface FarmOptions {
  /** Session TTL. @default 15_000 */
  readonly sessionTtlMs?: number;
  /** Lock-delay of the farm session (another farm waits this long after this one dies). @default 5_000 */
  readonly lockDelayMs?: number;
  /** Longest blocking wait on the record key listing; ownership is re-checked at least this often. @default 30_000 */
  readonly pollMs?: number;
  /** Passed to each worker: its longest blocking wait, so it re-runs at least this often. @default 30_000 */
  readonly resyncMs?: number;
  /** Session name. @default `p2-<kind>-farm:<hostname>:<ISO time>` */
  readonly sessionName?: string;
  /** Called with errors of workers (with their id) and of the farm loop. */
  readonly onError?: (error: unknown, id?: string) => void;
  /** Called after every pass of a record worker with its id and outcome (metrics). */
  readonly onReconcile?: (id: string, outcome: 'success' | 'failure') => void;
}

/** A running child of a farm. */
export interface FarmChild {
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

/** What distinguishes one farm from another. */
export interface FarmKind {
  /** `rc`, `ds`… (session names, logs). */
  readonly name: string;
  /** Prefix of the records (`replication_controllers/`). */
  readonly recordPrefix: string;
  /** Prefix of the ownership locks (`lock/replication_controllers/`). */
  readonly lockPrefix: string;
  /** Whether to claim this record (selectors over labels). */
  accept?(id: string): Promise<boolean>;
  /** Starts a worker for a claimed record. */
  spawn(id: string, session: string): FarmChild;
  /** Called with every listing before claiming (failsafes, contention checks). Return false to skip the pass. */
  beforePass?(ids: string[]): Promise<boolean>;
}

/**
 * Claims records through session locks (`<lockPrefix><id>`) and runs a child for each one it
 * holds; several farms cooperate through the locks alone, with no leader (P2's farms). When the
 * session is lost every child stops; a new session is created and records are claimed again.
 */
export class LockFarm {
  readonly #abort = new AbortController();
  readonly #children = new Map<string, FarmChild>();
  readonly #log: Logger;
  #done: Promise<void> | undefined;
  #session: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly kind: FarmKind,
    private readonly options: FarmOptions,
    logger: Logger | undefined,
  ) {
    this.#log = logger ?? silentLogger;
  }

  /** Ids of the records this farm currently runs a child for, sorted. */
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

  /** Stops every child, releases the locks and destroys the session. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let backoff = 1_000;
    while (!signal.aborted) {
      let session: string;
      try {
        session = await this.store.createSession({
          name:
            this.options.sessionName ??
            `p2-${this.kind.name}-farm:${hostname()}:${new Date().toISOString()}`,
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
      } finally {
        lost.abort();
        signal.removeEventListener('abort', onStop);
        await renewal;
        await Promise.all([...this.#children.keys()].map((id) => this.#release(id, session)));
        this.#session = undefined;
        await this.store.destroySession(session).catch(() => undefined);
      }
      if (!signal.aborted)
        this.#log.warn({ farm: this.kind.name }, 'farm session lost; starting a new one');
    }
  }

  async #renew(session: string, lost: AbortController): Promise<void> {
    const interval = (this.options.sessionTtlMs ?? 15_000) / 2;
    let failingSince: number | undefined;
    while (!lost.signal.aborted) {
      await sleep(interval, lost.signal);
      if (lost.signal.aborted) return;
      try {
        const info = await this.store.renewSession(session);
        failingSince = undefined;
        if (!info) {
          this.#log.warn({ session }, 'farm session expired');
          lost.abort();
        }
      } catch (error) {
        this.options.onError?.(error);
        failingSince ??= Date.now();
        // Renewals failing for a whole TTL: the session is gone for the store too.
        if (Date.now() - failingSince > (this.options.sessionTtlMs ?? 15_000)) lost.abort();
      }
    }
  }

  async #claimLoop(session: string, signal: AbortSignal): Promise<void> {
    let index = 0;
    while (!signal.aborted) {
      try {
        const listing = await this.store.keys(this.kind.recordPrefix, {
          index,
          waitMs: this.options.pollMs ?? 30_000,
          signal,
        });
        index = listing.index < index ? 0 : listing.index;
        const ids = listing.value
          .map((k) => idFromKey(this.kind.recordPrefix, k))
          .filter((id): id is string => id !== undefined);
        if (this.kind.beforePass && !(await this.kind.beforePass(ids))) continue;
        const locked = new Set(
          (await this.store.keys(this.kind.lockPrefix, { signal })).value
            .map((k) => k.slice(this.kind.lockPrefix.length))
            .filter((rest) => rest !== '' && !rest.includes('/')),
        );
        for (const id of ids) {
          if (signal.aborted) return;
          if (this.#children.has(id) || locked.has(id)) continue;
          if (this.kind.accept && !(await this.kind.accept(id))) continue;
          if (!(await this.store.acquire(`${this.kind.lockPrefix}${id}`, '', session, { signal })))
            continue;
          this.#spawn(id, session);
        }
        for (const id of [...this.#children.keys()]) {
          if (!ids.includes(id)) await this.#release(id, session);
        }
      } catch (error) {
        if (signal.aborted) return;
        this.options.onError?.(error);
        await sleep(1_000, signal);
      }
    }
  }

  #spawn(id: string, session: string): void {
    const child = this.kind.spawn(id, session);
    this.#children.set(id, child);
    this.#log.info({ farm: this.kind.name, id }, 'claimed');
    void child.done.then(() => {
      // A child ends by itself when its record is deleted: give the record up.
      if (this.#children.get(id) === child) void this.#release(id, session);
    });
  }

  async #release(id: string, session: string): Promise<void> {
    const child = this.#children.get(id);
    if (!child) return;
    this.#children.delete(id);
    await child.stop();
    await unlock(this.store, `${this.kind.lockPrefix}${id}`, session);
  }
}

/**
 * P2's unlock: read the key; absent → done; held by this session → delete-CAS at its index (the
 * key goes, like a session with behaviour delete). Best effort: errors are swallowed.
 */
async function unlock(store: Store, key: string, session: string): Promise<void> {
  try {
    const entry = (await store.get(key)).value;
    if (entry && entry.session === session) await store.deleteCas(key, entry.modifyIndex);
  } catch {
    // the lock goes with the session anyway
  }
}
