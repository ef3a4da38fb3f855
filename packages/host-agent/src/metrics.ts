/**
 * The preparer's Prometheus metrics on `/metrics`, through `prom-client` (the ecosystem's
 * registry): deploys, uninstalls, refusals, step durations, pods by state, store errors, and
 * prom-client's process metrics (CPU, memory, event-loop lag, handles) under the same prefix.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Step-duration buckets in seconds: from a fast relaunch to a slow download. */
const STEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The preparer's metrics, in a registry of their own. */
export class PreparerMetrics {
  readonly registry = new Registry();
  readonly deploys = new Counter({
    name: 'p2_preparer_deploys_total',
    help: 'Pod deploy attempts by result (success, failure).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly uninstalls = new Counter({
    name: 'p2_preparer_uninstalls_total',
    help: 'Pod uninstall attempts by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'p2_preparer_auth_failures_total',
    help: 'Intent entries refused by authorization, verification or the run_as policy.',
    registers: [this.registry],
  });
  readonly invalidIntent = new Counter({
    name: 'p2_preparer_invalid_intent_total',
    help: 'Intent entries that could not be parsed.',
    registers: [this.registry],
  });
  readonly stepSeconds = new Histogram({
    name: 'p2_preparer_step_duration_seconds',
    help: 'Duration of each deploy step.',
    labelNames: ['step'] as const,
    buckets: STEP_BUCKETS,
    registers: [this.registry],
  });
  readonly podsByState = new Gauge({
    name: 'p2_preparer_pods',
    help: 'Pods on this node by state.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'p2_preparer_store_errors_total',
    help: 'Failed store operations.',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });

  readonly eventsDropped = new Counter({
    name: 'p2_preparer_events_dropped_total',
    help: 'Pod events (kind=event) and history entries (kind=history) not recorded: the store failed or writes kept conflicting.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'p2_preparer_' });
  }

  /** Replaces every "pods by state" series at once (a state with no pods disappears). */
  setPodsByState(counts: ReadonlyMap<string, number>): void {
    this.podsByState.reset();
    for (const [state, n] of counts) this.podsByState.set({ state }, n);
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The exposition's content type (`text/plain; version=0.0.4; charset=utf-8`). */
  get contentType(): string {
    return this.registry.contentType;
  }
}
