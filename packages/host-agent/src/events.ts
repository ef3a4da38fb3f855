/**
 * The preparer's event and history recording (`events/<node>/<pod>`, `history/<node>/<pod>` in
 * @p2/keyspace): best-effort and never in a deploy's way. Events are queued per pod and written in
 * the background, one CAS write per batch (what accumulates while the previous write runs is the
 * next batch); a write that fails drops its batch, counted in `p2_preparer_events_dropped_total`.
 * A deploy never waits for the store here, so a store outage cannot block one.
 *
 * While a deploy runs, its pod's events are held ({@link EventRecorder.hold}) and committed at its
 * end with its history entry and its final status in one transaction ({@link EventRecorder.commit}):
 * one store write where there were four (issue 20).
 *
 * The recorder is the only writer of its node's events and history, so it remembers what it last
 * wrote there (value and modify index) and builds the next CAS on that, without reading the key
 * first: two reads fewer per deploy. Anyone else's write makes that CAS fail, and the retry reads.
 */
import { describeError } from '@p2/errors';
import {
  EVENTS_PER_POD,
  type KnownEntry,
  type PodEvent,
  PodEventStore,
  PodHistoryStore,
} from '@p2/keyspace';
import type { Store, TxnOp, TxnResult } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import type { Logger } from 'pino';
import type { PreparerMetrics } from './metrics.js';

/** Keys whose last write the recorder remembers, at most (the oldest are forgotten first). */
const KNOWN_KEYS = 512;

/** A CAS of an events or history key, as keyspace builds it. */
type CasOp = TxnOp & { verb: 'cas' };

/** An event without its time (the recorder stamps it). */
export type PodEventInput = Omit<PodEvent, 'time'>;

/** Queues events per pod and writes them in the background. @internal */
export class EventRecorder {
  private readonly pending = new Map<string, PodEvent[]>();
  private readonly writing = new Map<string, Promise<void>>();
  /** Pods whose events wait for a deploy's final transaction. */
  private readonly held = new Set<string>();
  private readonly events: PodEventStore;
  private readonly history: PodHistoryStore;
  /** What this recorder last wrote at an events or history key (see the module's comment). */
  private readonly known = new Map<string, KnownEntry>();

  constructor(
    private readonly store: Store,
    private readonly node: string,
    private readonly metrics: PreparerMetrics,
    private readonly log: Logger,
  ) {
    this.events = new PodEventStore(store);
    this.history = new PodHistoryStore(store);
  }

  /** Queues an event of `pod` (its uuid, or its id for a legacy pod). Returns at once. */
  record(pod: string, event: PodEventInput): void {
    const queue = this.pending.get(pod) ?? [];
    queue.push({ time: new Date().toISOString(), ...event });
    // A queue that outgrew the ring while the store was away keeps its newest events only.
    if (queue.length > EVENTS_PER_POD)
      this.drop('event', queue.splice(0, queue.length - EVENTS_PER_POD).length);
    this.pending.set(pod, queue);
    if (!this.held.has(pod) && !this.writing.has(pod)) this.writing.set(pod, this.flush(pod));
  }

  /** Holds the pod's events (a deploy started) until {@link EventRecorder.commit}. */
  hold(pod: string): void {
    this.held.add(pod);
  }

  /**
   * Ends a hold (unless `keepHold`: a slow deploy's `deploying` status): commits the pod's queued
   * events and (when given) its deployed manifest's history entry together with `ops` (the deploy's final status) in one transaction, retried when a
   * concurrent write moved the events or history on. Without events or history, `ops` go alone.
   *
   * @returns false when the events and history kept conflicting: they are dropped (counted) and
   *   `ops` were not written (the caller writes them on their own)
   * @throws what the store threw (down): the events and history are dropped (counted), as a failed
   *   background write drops its batch
   */
  async commit(
    pod: string,
    ops: readonly TxnOp[],
    options: { deployed?: Manifest; keepHold?: boolean } = {},
  ): Promise<boolean> {
    if (!options.keepHold) this.held.delete(pod);
    await this.writing.get(pod); // a batch written before the hold
    const batch = this.pending.get(pod) ?? [];
    this.pending.delete(pod);
    const { deployed } = options;
    const history = deployed ? { sha: deployed.sha(), manifest: deployed.text() } : undefined;
    try {
      const eventsKey = this.events.key(this.node, pod);
      const historyKey = this.history.key(this.node, pod);
      for (let attempt = 0; attempt < 5; attempt++) {
        const [events, revision] = await Promise.all([
          this.events.appendOp(this.node, pod, batch, this.known.get(eventsKey)),
          history
            ? this.history.recordOp(this.node, pod, history, this.known.get(historyKey))
            : undefined,
        ]);
        const cas = [...(events ? [events] : []), ...(revision ? [revision] : [])];
        const txn = [...ops, ...cas];
        if (txn.length === 0) return true;
        if (this.learn(cas, ops.length, await this.store.txn(txn))) return true;
      }
    } catch (error) {
      this.dropCommit(batch.length, history);
      throw error;
    } finally {
      // Events recorded meanwhile (a health transition) go the usual way.
      if (this.pending.has(pod) && !this.writing.has(pod) && !this.held.has(pod))
        this.writing.set(pod, this.flush(pod));
    }
    this.dropCommit(batch.length, history);
    return false;
  }

  private dropCommit(events: number, history: object | undefined): void {
    if (events > 0) this.drop('event', events);
    if (history) this.drop('history', 1);
  }

  private async flush(pod: string): Promise<void> {
    try {
      for (;;) {
        const batch = this.pending.get(pod);
        if (!batch || batch.length === 0) return;
        this.pending.delete(pod);
        try {
          if (!(await this.append(pod, batch))) this.drop('event', batch.length);
        } catch (error) {
          this.drop('event', batch.length);
          this.log.warn(
            { pod, dropped: batch.length, err: describeError(error) },
            'could not record pod events; dropped',
          );
        }
      }
    } finally {
      this.writing.delete(pod);
    }
  }

  /** Appends a batch with a CAS on what the recorder knows, reading only after a conflict. */
  private async append(pod: string, batch: PodEvent[]): Promise<boolean> {
    const key = this.events.key(this.node, pod);
    for (let attempt = 0; attempt < 5; attempt++) {
      const op = await this.events.appendOp(this.node, pod, batch, this.known.get(key));
      if (!op) return true;
      if (this.learn([op], 0, await this.store.txn([op]))) return true;
    }
    return false;
  }

  /**
   * Learns from a transaction of `offset` other ops and then `cas`. Committed: notes what it wrote
   * at `cas`'s keys, and returns true. Rolled back: forgets the keys whose CAS failed (all of them
   * when the failure was elsewhere), so that the retry reads them, and returns false.
   */
  private learn(cas: CasOp[], offset: number, result: TxnResult): boolean {
    if (!result.committed) {
      // Someone else wrote a key (or the recorder's memory of it was wrong): read it again.
      const failed = result.errors.flatMap((e) => cas[e.opIndex - offset]?.key ?? []);
      for (const op of cas)
        if (failed.length === 0 || failed.includes(op.key)) this.known.delete(op.key);
      return false;
    }
    for (const op of cas) {
      const written = result.results.find((entry) => entry.key === op.key);
      this.known.delete(op.key);
      if (!written) continue;
      this.known.set(op.key, {
        value: typeof op.value === 'string' ? Buffer.from(op.value) : op.value,
        modifyIndex: written.modifyIndex,
      });
      if (this.known.size > KNOWN_KEYS) {
        const oldest = this.known.keys().next().value;
        if (oldest !== undefined) this.known.delete(oldest);
      }
    }
    return true;
  }

  private drop(kind: 'event' | 'history', n: number): void {
    this.metrics.eventsDropped.inc({ kind }, n);
  }

  /** Waits for the writes under way (at most `timeoutMs`: a dead store does not hold a stop). */
  async settle(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.writing.values()]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
