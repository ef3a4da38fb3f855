/**
 * The controller process's Prometheus metrics, through `prom-client` (as the preparer's): reconcile
 * passes, placements and unschedules, rolling update progress, locks held, errors, alerts, and
 * prom-client's process metrics, all under `p2_controllers_`.
 */
import type { RollStatus } from '@p2/keyspace';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The farms' metrics, in a registry of their own; {@link startControllerFarms} feeds them. */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'p2_controllers_reconciles_total',
    help: 'Reconcile passes by farm and outcome (rc/ds: success, failure; roll: how a run ended, or error).',
    labelNames: ['farm', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly placements = new Counter({
    name: 'p2_controllers_placements_total',
    help: 'Nodes given a pod (intent written) by farm.',
    labelNames: ['farm'] as const,
    registers: [this.registry],
  });
  readonly unschedules = new Counter({
    name: 'p2_controllers_unschedules_total',
    help: 'Nodes whose pod was unscheduled (intent removed) by farm.',
    labelNames: ['farm'] as const,
    registers: [this.registry],
  });
  readonly rollHealthy = new Gauge({
    name: 'p2_controllers_roll_new_healthy',
    help: 'Healthy replicas of the new RC of each running rolling update.',
    labelNames: ['roll'] as const,
    registers: [this.registry],
  });
  readonly rollDesired = new Gauge({
    name: 'p2_controllers_roll_new_desired',
    help: 'Desired replicas of the new RC of each running rolling update.',
    labelNames: ['roll'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'p2_controllers_errors_total',
    help: 'Errors of farms and their workers (retried), by farm.',
    labelNames: ['farm'] as const,
    registers: [this.registry],
  });
  readonly alerts = new Counter({
    name: 'p2_controllers_alerts_total',
    help: 'Alerts raised, by urgency.',
    labelNames: ['urgency'] as const,
    registers: [this.registry],
  });
  readonly alertDeliveries = new Counter({
    name: 'p2_controllers_alert_deliveries_total',
    help: 'Alerts sent to the webhook, by result (sent, failed after every retry, dropped because the queue was full).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly #locks = new Map<string, () => number>();
  readonly locksHeld = new Gauge({
    name: 'p2_controllers_locks_held',
    help: 'Controller records this process holds the ownership lock of, by farm.',
    labelNames: ['farm'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [farm, count] of this.#locks) this.locksHeld.set({ farm }, count());
    },
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'p2_controllers_' });
  }

  /** Reports `count()` (read at every scrape) as the locks held by `farm`. */
  trackLocks(farm: string, count: () => number): void {
    this.#locks.set(farm, count);
  }

  /** Records a rolling update's progress from its status. */
  rollStatus(id: string, status: RollStatus): void {
    if (!status.new) return;
    this.rollHealthy.set({ roll: id }, status.new.healthy);
    this.rollDesired.set({ roll: id }, status.new.desired);
  }

  /** Forgets an ended rolling update's progress. */
  rollEnded(id: string): void {
    this.rollHealthy.remove({ roll: id });
    this.rollDesired.remove({ roll: id });
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
