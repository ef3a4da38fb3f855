/**
 * Alerts to a webhook as PagerDuty Events API v2 events (P2 paged through PagerDuty): a bounded
 * queue drained by one sender, so raising an alert never waits on the network; `got` POSTs each
 * event with retries and exponential backoff.
 */
import { hostname } from 'node:os';
import type { Alert } from '@p2/controller-kit';
import got from 'got';
import type { Logger } from 'pino';
import type { ControllerMetrics } from './metrics.js';

/** Where and how {@link WebhookAlerter} sends. */
export interface WebhookAlerterOptions {
  /** The endpoint, e.g. `https://events.pagerduty.com/v2/enqueue`. */
  readonly url: string;
  /** PagerDuty's integration key (a secret: never logged). Omitted from events when absent. */
  readonly routingKey?: string;
  /** `payload.source`. @default `p2-controllers@<hostname>` */
  readonly source?: string;
  /** Alerts waiting to be sent at most; more are dropped and counted. @default 100 */
  readonly queueSize?: number;
  /** Retries of one event after the first attempt. @default 5 */
  readonly retries?: number;
  /** First retry delay; doubles with every retry, up to 60 s. @default 1_000 */
  readonly backoffMs?: number;
  /** Timeout of one attempt. @default 10_000 */
  readonly timeoutMs?: number;
  /** Counts deliveries (`p2_controllers_alert_deliveries_total`). */
  readonly metrics?: ControllerMetrics;
  /** Where failed deliveries are logged (without the routing key). */
  readonly logger?: Logger;
}

/** A PagerDuty Events API v2 `trigger` event. */
export interface PagerDutyEvent {
  routing_key?: string;
  event_action: 'trigger';
  dedup_key: string;
  client: string;
  payload: {
    summary: string;
    source: string;
    severity: 'critical' | 'warning';
    custom_details?: Record<string, unknown>;
  };
}

/**
 * The event for an alert: high urgency → `critical`, low → `warning`; the incident key is the
 * dedup key, so a repeated alert updates one incident (as P2's alerter did).
 *
 * @example pagerDutyEvent({ urgency: 'high', incidentKey: 'no_rcs_found', description: '…' }, 'p2-controllers@h1').payload.severity // 'critical'
 */
export function pagerDutyEvent(alert: Alert, source: string, routingKey?: string): PagerDutyEvent {
  return {
    ...(routingKey === undefined ? {} : { routing_key: routingKey }),
    event_action: 'trigger',
    dedup_key: alert.incidentKey,
    client: 'p2-controllers',
    payload: {
      // PagerDuty truncates summaries at 1024 characters.
      summary: alert.description.slice(0, 1024),
      source,
      severity: alert.urgency === 'high' ? 'critical' : 'warning',
      ...(alert.details ? { custom_details: alert.details } : {}),
    },
  };
}

/**
 * Sends alerts to a webhook in the order raised, one at a time. {@link send} only queues: a slow
 * or dead receiver never blocks a farm; when the queue is full the alert is dropped (it is still
 * logged by the farms) and counted.
 *
 * @example
 * ```ts
 * const alerter = new WebhookAlerter({ url: 'https://events.pagerduty.com/v2/enqueue', routingKey });
 * startControllerFarms({ store, onAlert: (alert) => alerter.send(alert) });
 * ```
 */
export class WebhookAlerter {
  readonly #queue: Alert[] = [];
  readonly #abort = new AbortController();
  readonly #source: string;
  #draining: Promise<void> | undefined;

  constructor(private readonly options: WebhookAlerterOptions) {
    this.#source = options.source ?? `p2-controllers@${hostname()}`;
  }

  /** Alerts waiting to be sent. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues an alert (returns at once); false when the queue was full and it was dropped. */
  send(alert: Alert): boolean {
    if (this.#abort.signal.aborted) return false;
    if (this.#queue.length >= (this.options.queueSize ?? 100)) {
      this.options.metrics?.alertDeliveries.inc({ result: 'dropped' });
      this.options.logger?.warn({ alert: alert.incidentKey }, 'alert queue full; alert dropped');
      return false;
    }
    this.#queue.push(alert);
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
    return true;
  }

  /** Stops sending: the attempt in flight is abandoned, queued alerts are dropped. */
  async close(): Promise<void> {
    this.#abort.abort();
    this.#queue.length = 0;
    await this.#draining;
  }

  async #drain(): Promise<void> {
    for (let alert = this.#queue.shift(); alert; alert = this.#queue.shift()) {
      const result = await this.#post(alert);
      this.options.metrics?.alertDeliveries.inc({ result });
    }
  }

  async #post(alert: Alert): Promise<'sent' | 'failed'> {
    const base = this.options.backoffMs ?? 1_000;
    try {
      await got.post(this.options.url, {
        json: pagerDutyEvent(alert, this.#source, this.options.routingKey),
        signal: this.#abort.signal,
        timeout: { request: this.options.timeoutMs ?? 10_000 },
        retry: {
          limit: this.options.retries ?? 5,
          methods: ['POST'],
          // got's computed delay is 0 when it would not retry (limit reached, status not retryable).
          calculateDelay: ({ attemptCount, computedValue }) =>
            computedValue === 0 ? 0 : Math.min(base * 2 ** (attemptCount - 1), 60_000),
        },
      });
      return 'sent';
    } catch (error) {
      if (!this.#abort.signal.aborted) {
        // Codes only: got's message names the URL (which may carry a token) and its options hold
        // the event, routing key included.
        const e = error as { code?: string; response?: { statusCode?: number } };
        this.options.logger?.warn(
          { alert: alert.incidentKey, code: e.code, status: e.response?.statusCode },
          'alert delivery failed after every retry',
        );
      }
      return 'failed';
    }
  }
}
