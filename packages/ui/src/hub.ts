/**
 * One store watch per server, fanned out to every page: the hub reads the fleet when the store
 * changes (at most once per `intervalMs`, so 100 writes/s cost a few reads per second), keeps the
 * latest snapshot for pages that connect, and sends each change once, serialized once, to all.
 */
import { type Store, sleep, watchIndexed } from '@p2/kv';
import type { Logger } from 'pino';
import {
  diffFleet,
  type FleetIndex,
  type FleetSnapshot,
  indexFleet,
  readFleet,
} from './snapshot.js';

/** Whether the store answers, as the pages are told. */
export interface StoreState {
  ok: boolean;
  /** Why it does not (the store client's message, credentials redacted); null when ok. */
  error: string | null;
  /** When this state began (ISO 8601). */
  since: string;
}

/** A page listening to the hub: `send` gets one server-sent event (`event:` and `data:` lines). */
export interface HubClient {
  send(event: string): void;
}

/** Formats one server-sent event; `data` is JSON (one line, so no escaping is needed). */
function sseEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The shared watch. `start()` runs it until `close()`. */
export class FleetHub {
  readonly #store: Store;
  readonly #log: Logger | undefined;
  readonly #intervalMs: number;
  readonly #clients = new Set<HubClient>();
  readonly #controller = new AbortController();
  #snapshot: FleetSnapshot | undefined;
  /** The snapshot as an event, serialized once for every page that connects. */
  #snapshotEvent: string | undefined;
  #index: FleetIndex | undefined;
  #state: StoreState = { ok: true, error: null, since: new Date().toISOString() };
  #loop: Promise<void> | undefined;

  constructor(store: Store, options: { logger?: Logger; intervalMs?: number } = {}) {
    this.#store = store;
    this.#log = options.logger;
    this.#intervalMs = options.intervalMs ?? 250;
  }

  /** The latest snapshot (undefined before the first read). */
  get snapshot(): FleetSnapshot | undefined {
    return this.#snapshot;
  }

  get state(): StoreState {
    return this.#state;
  }

  start(): void {
    this.#loop ??= this.#run().catch((error: unknown) => {
      this.#log?.error({ err: error }, 'dashboard watch ended');
      this.#setState(false, error);
    });
  }

  /**
   * Adds a page: it gets the store state and the whole snapshot now, then every change. A page
   * that holds the latest snapshot already (read from `/api/fleet`: `since` is its `time`) gets
   * only the changes.
   */
  add(client: HubClient, since?: string): () => void {
    this.#clients.add(client);
    client.send(sseEvent('store', this.#state));
    if (this.#snapshot && this.#snapshot.time !== since) {
      this.#snapshotEvent ??= sseEvent('snapshot', this.#snapshot);
      client.send(this.#snapshotEvent);
    }
    return () => this.#clients.delete(client);
  }

  get clients(): number {
    return this.#clients.size;
  }

  async close(): Promise<void> {
    this.#controller.abort();
    await this.#loop;
    this.#clients.clear();
  }

  #broadcast(event: string): void {
    for (const client of this.#clients) client.send(event);
  }

  #setState(ok: boolean, error?: unknown): void {
    const text = ok ? null : error instanceof Error ? error.message : String(error);
    if (this.#state.ok === ok && this.#state.error === text) return;
    this.#state = { ok, error: text, since: new Date().toISOString() };
    if (!ok) this.#log?.warn({ err: error }, 'store unreachable; retrying');
    else this.#log?.info('store reachable again');
    this.#broadcast(sseEvent('store', this.#state));
  }

  async #run(): Promise<void> {
    const signal = this.#controller.signal;
    for await (const _ of watchIndexed(
      async (index, waitMs, s) => {
        // While the store is down, ask without blocking: the first answer tells the pages it is back.
        const answer = await this.#store.keys('', {
          index: this.#state.ok ? index : 0,
          waitMs,
          signal: s,
        });
        this.#setState(true);
        return answer;
      },
      {
        signal,
        waitMs: 10_000,
        // Retry quickly: the page says the store is down until it answers again.
        backoffMaxMs: 2_000,
        onError: (error) => this.#setState(false, error),
      },
    )) {
      const started = performance.now();
      let snapshot: FleetSnapshot;
      try {
        snapshot = await readFleet(this.#store);
      } catch (error) {
        if (signal.aborted) return;
        this.#setState(false, error);
        await sleep(1_000, signal);
        continue;
      }
      this.#setState(true);
      this.#publish(snapshot);
      // Coalesce: at most one read (and one message) per interval, however fast the store changes.
      await sleep(this.#intervalMs - (performance.now() - started), signal);
    }
  }

  #publish(snapshot: FleetSnapshot): void {
    const index = indexFleet(snapshot);
    const previous = this.#index;
    this.#snapshot = snapshot;
    this.#snapshotEvent = undefined;
    this.#index = index;
    if (!previous) {
      this.#broadcast(sseEvent('snapshot', snapshot));
      return;
    }
    const diff = diffFleet(previous, index, snapshot.time);
    if (diff) this.#broadcast(sseEvent('diff', diff));
  }
}
