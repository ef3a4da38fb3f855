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
 */
import { describeError } from '@p2/errors';
import { EVENTS_PER_POD, type PodEvent, PodEventStore, PodHistoryStore } from '@p2/keyspace';
import type { Store, TxnOp } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import type { Logger } from 'pino';
import type { PreparerMetrics } from './metrics.js';

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
      for (let attempt = 0; attempt < 5; attempt++) {
        const [events, revision] = await Promise.all([
          this.events.appendOp(this.node, pod, batch),
          history ? this.history.recordOp(this.node, pod, history) : undefined,
        ]);
        const txn = [...ops, ...(events ? [events] : []), ...(revision ? [revision] : [])];
        if (txn.length === 0 || (await this.store.txn(txn)).committed) return true;
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
          if (!(await this.events.append(this.node, pod, batch))) this.drop('event', batch.length);
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
