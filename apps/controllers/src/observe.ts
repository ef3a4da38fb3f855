/**
 * p2-controllers' observability flags: `--metrics-port`/`--metrics-host` serve `@p2/controller-farms`'
 * metrics; `--alert-webhook`/`--alert-routing-key-file` send its alerts to a PagerDuty-compatible
 * webhook.
 */
import { resolve } from 'node:path';
import { parseWholeNumber } from '@p2/cli-kit';
import {
  type Alert,
  ControllerMetrics,
  type MetricsServer,
  startMetricsServer,
  WebhookAlerter,
} from '@p2/controller-farms';
import { readTokenFile } from '@p2/kv';
import type { Logger } from 'pino';
import { ControllersError, ControllersErrorCode } from './errors.js';

/** The flags' raw values. */
export interface ObservabilityFlags {
  readonly metricsPort?: string | undefined;
  readonly metricsHost?: string | undefined;
  readonly alertWebhook?: string | undefined;
  readonly alertRoutingKeyFile?: string | undefined;
}

/** What the flags started: pass `metrics` and `onAlert` to the farms; `close()` after they stop. */
export interface Observability {
  readonly metrics: ControllerMetrics;
  readonly metricsUrl?: string;
  readonly onAlert?: (alert: Alert) => void;
  close(): Promise<void>;
}

const invalid = (message: string, hint: string) =>
  new ControllersError(ControllersErrorCode.INVALID_ARGUMENT, message, { hint });

/** Reads the routing key (a secret: its content never appears in an error or a log). */
async function readRoutingKey(file: string): Promise<string> {
  let key: string;
  try {
    // As the store's token file: no symlink, a regular file nobody else may read; root's own
    // when the controllers run as root (root trusts only root's files).
    key = await readTokenFile(resolve(file), {
      rootOwned: process.getuid?.() === 0,
      private: true,
    });
  } catch (error) {
    throw invalid(
      `--alert-routing-key-file: ${error instanceof Error ? error.message : String(error)}`,
      'a regular file holding the PagerDuty integration key, mode 0600, owned by the user the controllers run as (root: root)',
    );
  }
  if (key === '' || /\s/.test(key))
    throw invalid(
      `--alert-routing-key-file ${file} does not hold one key`,
      'the file should hold the 32-character integration key alone',
    );
  return key;
}

/**
 * Starts the metrics server and the webhook alerter the flags ask for.
 * @throws ControllersError P2_CONTROLLERS_INVALID_ARGUMENT for a bad port, URL or key file
 */
export async function startObservability(
  flags: ObservabilityFlags,
  logger: Logger,
): Promise<Observability> {
  const metrics = new ControllerMetrics();
  let alerter: WebhookAlerter | undefined;
  if (flags.alertWebhook !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(flags.alertWebhook);
    } catch {}
    if (url?.protocol !== 'https:' && url?.protocol !== 'http:')
      throw invalid(
        '--alert-webhook must be an http(s) URL',
        '--alert-webhook https://events.pagerduty.com/v2/enqueue',
      );
    const routingKey =
      flags.alertRoutingKeyFile === undefined
        ? undefined
        : await readRoutingKey(flags.alertRoutingKeyFile);
    alerter = new WebhookAlerter({
      url: url.href,
      ...(routingKey === undefined ? {} : { routingKey }),
      metrics,
      logger,
    });
  } else if (flags.alertRoutingKeyFile !== undefined) {
    throw invalid('--alert-routing-key-file needs --alert-webhook', '--alert-webhook URL');
  }
  let server: MetricsServer | undefined;
  if (flags.metricsPort !== undefined) {
    const port = parseWholeNumber(flags.metricsPort);
    if (port === undefined || port > 65_535)
      throw invalid(
        `--metrics-port must be a port number, got ${JSON.stringify(flags.metricsPort)}`,
        '--metrics-port 9101',
      );
    server = await startMetricsServer(metrics, {
      port,
      ...(flags.metricsHost === undefined ? {} : { host: flags.metricsHost }),
    });
    logger.info({ url: `${server.url}/metrics` }, 'serving metrics');
  }
  return {
    metrics,
    ...(server ? { metricsUrl: server.url } : {}),
    ...(alerter ? { onAlert: (alert: Alert) => void alerter.send(alert) } : {}),
    async close() {
      await Promise.all([server?.close(), alerter?.close()]);
    },
  };
}
