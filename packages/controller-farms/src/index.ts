/**
 * `@p2/controller-farms` — what one controller process runs: the RC, roll and daemon-set farms on
 * one store, sharing a label store and a health source, with alerts and worker errors logged,
 * Prometheus metrics ({@link ControllerMetrics}, {@link startMetricsServer}) and alerts to a
 * PagerDuty-compatible webhook ({@link WebhookAlerter}). `p2-controllers` is argv parsing around
 * {@link startControllerFarms} and {@link checkStoreAccess}.
 *
 * @packageDocumentation
 */

export type { Alert } from '@p2/controller-kit';
export {
  type PagerDutyEvent,
  pagerDutyEvent,
  WebhookAlerter,
  type WebhookAlerterOptions,
} from './alerts.js';
export {
  CONTROLLER_FARMS,
  type ControllerFarmName,
  type ControllerFarmsOptions,
  checkStoreAccess,
  type RunningControllerFarms,
  startControllerFarms,
} from './controller-farms.js';
export { ControllerMetrics } from './metrics.js';
export { type MetricsServer, startMetricsServer } from './metrics-server.js';
