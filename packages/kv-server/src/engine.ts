/**
 * The state machine made live: commits that are durable before they are answered, blocked queries
 * woken by the commits that concern them, session TTL timers and tombstone reaping.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { HttpFailure, parseBlocking } from './http.js';
import type { DurableLog } from './log.js';
import type { Effect, Session, State } from './state.js';
import { type Waiter, WaiterIndex, type WaitScope } from './waiters.js';

/** One per server: the state, its durable log, and everything that waits on a commit. */
export class Engine {
  private readonly waiters = new WaiterIndex();
  /** Blocked queries held per client (remote address). */
  private readonly blockedPerClient = new Map<string, number>();
  private readonly sessionTimers = new Map<string, NodeJS.Timeout>();
  private readonly tombstoneTimes = new Map<string, number>();
  private readonly reaper: NodeJS.Timeout;
  private closing = false;
  /** The first failed log write: from then on writes are refused until a restart. */
  diskError: unknown;

  constructor(
    readonly state: State,
    private readonly log: DurableLog,
    private readonly logger: Logger,
    private readonly tombstoneTtlMs: number,
    private readonly maxBlockingPerClient: number,
  ) {
    for (const session of state.sessions.values()) this.armSession(session);
    this.reaper = setInterval(
      () => {
        this.reapTombstones().catch((error: unknown) =>
          logger.error({ err: error }, 'tombstone reap failed'),
        );
      },
      Math.max(1000, tombstoneTtlMs / 2),
    );
    this.reaper.unref();
  }

  /** Applies an effect, waits until it is durable, then wakes the blocked queries it concerns. */
  async commit(effect: Effect): Promise<void> {
    if (this.diskError !== undefined) {
      throw new HttpFailure(
        500,
        `write not persisted: the store refuses writes after a disk error`,
      );
    }
    this.state.apply(effect);
    const now = Date.now();
    for (const key of effect.del ?? []) this.tombstoneTimes.set(key, now);
    for (const session of effect.sput ?? []) this.armSession(session);
    for (const id of effect.sdel ?? []) this.disarmSession(id);
    try {
      await this.log.append(effect);
    } catch (error) {
      // The log cut the partial write off and reloaded memory from disk; stop taking writes.
      if (this.diskError === undefined) {
        this.diskError = error;
        this.logger.error(
          { err: error, index: this.state.index },
          'log write failed: not acknowledged, cut from the log; reads serve what is on disk; refusing writes until restart',
        );
      }
      throw new HttpFailure(
        500,
        `write not persisted: ${(error as Error).message}; restart p2-kv-server`,
      );
    }
    const keys = [...(effect.put ?? []).map((r) => r[0]), ...(effect.del ?? [])];
    const sessions = (effect.sput?.length ?? 0) + (effect.sdel?.length ?? 0) > 0;
    for (const waiter of this.waiters.concerned(keys, sessions)) waiter.wake();
  }

  /** (Re)starts a session's TTL timer. */
  armSession(session: Session): void {
    this.disarmSession(session.id);
    if (session.ttlMs <= 0 || this.closing) return;
    // Consul arms TTL × 2 so a session is never invalidated before its TTL.
    const timer = setTimeout(() => {
      this.sessionTimers.delete(session.id);
      const effect = this.state.invalidateSession(session.id);
      if (!effect) return;
      this.logger.info({ session: session.id, name: session.name }, 'session TTL expired');
      this.commit(effect).catch((error: unknown) =>
        this.logger.error({ err: error }, 'session expiry not persisted'),
      );
    }, session.ttlMs * 2);
    timer.unref();
    this.sessionTimers.set(session.id, timer);
  }

  private disarmSession(id: string): void {
    const timer = this.sessionTimers.get(id);
    if (timer) clearTimeout(timer);
    this.sessionTimers.delete(id);
  }

  /** Reaps tombstones older than `olderThanMs` (replayed ones count as old). */
  async reapTombstones(olderThanMs = this.tombstoneTtlMs): Promise<void> {
    const cutoff = Date.now() - olderThanMs;
    let reap = 0;
    for (const [key, index] of this.state.tombstones) {
      const at = this.tombstoneTimes.get(key) ?? 0;
      if (at <= cutoff && index > reap) reap = index;
    }
    for (const [key, index] of this.state.tombstones) {
      if (index <= reap) this.tombstoneTimes.delete(key);
    }
    if (reap > 0) await this.commit({ i: this.state.index, reap });
  }

  /**
   * Runs a blocking read: `compute` returns the index that decides wake-ups and a function that
   * writes the answer. Answers at once when `index` is 0 or already passed; otherwise when a commit
   * touching `scope` moves the change index past `index`, or when the wait expires.
   */
  async blocking(
    res: ServerResponse,
    q: URLSearchParams,
    scope: WaitScope,
    compute: () => { changeIndex: number; respond: () => void },
  ): Promise<void> {
    const { index, waitMs } = parseBlocking(q);
    await this.log.settled();
    let current = compute();
    if (index === 0 || current.changeIndex > index) return current.respond();
    const client = res.req.socket.remoteAddress ?? 'unknown';
    const held = this.blockedPerClient.get(client) ?? 0;
    if (held >= this.maxBlockingPerClient) {
      throw new HttpFailure(
        429,
        `Too many concurrent blocking queries from ${client}: ${held} held, the limit is ${this.maxBlockingPerClient}; close some watches or raise --max-blocking-per-client`,
      );
    }
    this.blockedPerClient.set(client, held + 1);
    await new Promise<void>((resolve) => {
      const waiter: Waiter = {
        ...scope,
        wake: () => {
          current = compute();
          if (current.changeIndex > index) finish();
        },
      };
      const timer = setTimeout(() => finish(), waitMs);
      const finish = () => {
        if (!this.waiters.has(waiter)) return;
        const left = (this.blockedPerClient.get(client) ?? 1) - 1;
        if (left > 0) this.blockedPerClient.set(client, left);
        else this.blockedPerClient.delete(client);
        clearTimeout(timer);
        this.waiters.delete(waiter);
        res.off('close', finish);
        resolve();
      };
      this.waiters.add(waiter);
      res.on('close', finish);
    });
    if (!res.destroyed) compute().respond();
  }

  /** Waits until every acknowledged write is on disk (reads answer from a settled state). */
  settled(): Promise<void> {
    return this.log.settled();
  }

  /** Stops the timers and ends every blocked query (each answers with what it has). */
  stop(): void {
    this.closing = true;
    clearInterval(this.reaper);
    for (const id of [...this.sessionTimers.keys()]) this.disarmSession(id);
    for (const waiter of this.waiters.values()) waiter.wake();
  }
}
