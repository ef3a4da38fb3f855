/** What every controller is given, and how its defaults are filled in. */
import { LabelStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { LabelScheduler, type Scheduler } from '@p2/scheduler';
import type { Logger } from 'pino';
import type { HealthSource } from './health.js';
import { silentLogger } from './util.js';

/** An alert a controller raises for an operator (P2 sent these to PagerDuty). */
export interface Alert {
  readonly urgency: 'high' | 'low';
  readonly incidentKey: string;
  readonly description: string;
  readonly details?: Record<string, unknown>;
}

/** What the controllers need; shared by RC workers, farms, rolling updates and daemon sets. */
export interface ControllerContext {
  readonly store: Store;
  /** @default a LabelStore on `store` */
  readonly labels?: LabelStore;
  /** @default a LabelScheduler on `store` */
  readonly scheduler?: Scheduler;
  /** Where health comes from (node transfers and rolling updates). */
  readonly health?: HealthSource;
  /** Receives alerts. @default log them */
  readonly alert?: (alert: Alert) => void;
  /** pino logger. @default silent */
  readonly logger?: Logger;
}

/** A {@link ControllerContext} with every default filled in. */
export interface ResolvedContext {
  store: Store;
  labels: LabelStore;
  scheduler: Scheduler;
  health: HealthSource | undefined;
  alert: (alert: Alert) => void;
  log: Logger;
}

/**
 * Fills in a context's defaults: a non-validating `LabelStore`, a `LabelScheduler` sharing it, a
 * silent logger, alerts logged as warnings.
 *
 * @example resolveContext({ store }).labels // a LabelStore on store
 */
export function resolveContext(ctx: ControllerContext): ResolvedContext {
  // Controllers copy labels from stored records: accept what is stored, as P2 did (stores that
  // take new input from people validate it, e.g. RcStore.create).
  const labels = ctx.labels ?? new LabelStore(ctx.store, { validate: false });
  const log = ctx.logger ?? silentLogger;
  return {
    store: ctx.store,
    labels,
    scheduler: ctx.scheduler ?? new LabelScheduler(ctx.store, { labels }),
    health: ctx.health,
    alert: ctx.alert ?? ((a) => log.warn({ alert: a }, a.description)),
    log,
  };
}
