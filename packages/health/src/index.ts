/**
 * `@p2/health`: check a pod's status endpoint, order P2's health states, a checker loop that
 * publishes results (records through `@p2/keyspace`), and counting helpers for controllers.
 */
export {
  countHealthByPod,
  countHealthOnNodes,
  type HealthCounts,
  healthyCountByPod,
  sortNodesWorstFirst,
  statusByNode,
} from './aggregate.js';
export {
  checkPodHealth,
  type HealthCheckOptions,
  type HealthResult,
  type HealthTarget,
  type HealthTlsOptions,
  healthCheckUrl,
  healthTarget,
} from './check.js';
export { type FlapControlOptions, HealthChecker, type HealthCheckerOptions } from './checker.js';
export { HealthError, HealthErrorCode } from './errors.js';
export {
  checkMetricGate,
  type GateExpression,
  type GateOp,
  type GateReading,
  type GateSeries,
  type GateTerm,
  MetricGateEvaluator,
  type MetricSample,
  parseGateExpression,
  parseMetricsText,
  type ScrapeOptions,
  type ScrapeResult,
  type SoakSettings,
  type SoakVerdict,
  scrapeMetrics,
  soakMetricGate,
} from './metric-gate.js';
export {
  type HealthPublisher,
  type HealthPublisherStore,
  MemoryHealthPublisher,
  StoreHealthPublisher,
  type StoreHealthPublisherOptions,
} from './publisher.js';
export {
  bestHealth,
  compareHealth,
  type HealthState,
  healthOrdinal,
  isAtLeast,
  worstHealth,
} from './state.js';
