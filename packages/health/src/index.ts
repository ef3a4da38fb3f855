/**
 * `@p2/health`: check a pod's status endpoint, P2's health states and store records, a checker loop
 * that publishes results, and counting helpers for controllers.
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
  type HealthPublisher,
  type HealthPublisherStore,
  MemoryHealthPublisher,
  StoreHealthPublisher,
  type StoreHealthPublisherOptions,
} from './publisher.js';
export {
  decodeHealthRecord,
  encodeHealthRecord,
  formatRfc3339Nano,
  HEALTH_PREFIX,
  type HealthRecord,
  healthKey,
  parseHealthKey,
} from './record.js';
export {
  bestHealth,
  compareHealth,
  type HealthState,
  HealthStates,
  healthOrdinal,
  isAtLeast,
  isHealthState,
  parseHealthState,
  worstHealth,
} from './state.js';
