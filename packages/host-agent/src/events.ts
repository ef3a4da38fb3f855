/**
 * The preparer's event and history recording (`events/<node>/<pod>`, `history/<node>/<pod>` in
 * @p2/keyspace): best-effort and never in a deploy's way. Events are queued per pod and written in
 * the background, one CAS write per batch (what accumulates while the previous write runs is the
 * next batch); a write that fails drops its batch, counted in `p2_preparer_events_dropped_total`.
 * A deploy never waits for the store here, so a store outage cannot block one.
 */
import { describeError } from '@p2/errors';
import { EVENTS_PER_POD, type PodEvent, PodEventStore, PodHistoryStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import type { Logger } from 'pino';
import type { PreparerMetrics } from './metrics.js';

/** An event without its time (the recorder stamps it). */
export type PodEventInput = Omit<PodEvent, 'time'>;

/** Queues events per pod and writes them in the background. @internal */
export class EventRecorder {
  private readonly pending = new Map<string, PodEvent[]>();
  private readonly writing = new Map<string, Promise<void>>();
  private readonly events: PodEventStore;
  private readonly history: PodHistoryStore;

  constructor(
    store: Store,
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
    if (!this.writing.has(pod)) this.writing.set(pod, this.flush(pod));
  }

  /** Records a deployed manifest in the pod's history, in the background. */
  deployed(pod: string, manifest: Manifest): void {
    const done = this.history
      .record(this.node, pod, { sha: manifest.sha(), manifest: manifest.text() })
      .then((ok) => {
        if (!ok) this.drop('history', 1);
      })
      .catch((error: unknown) => {
        this.drop('history', 1);
        this.log.warn({ pod, err: describeError(error) }, 'could not record the pod history');
      });
    const key = `history:${pod}`;
    this.writing.set(
      key,
      done.finally(() => this.writing.delete(key)),
    );
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
