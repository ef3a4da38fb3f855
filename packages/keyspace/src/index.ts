/**
 * `@p2/keyspace`: P2's store layout — every key and every record type with exactly one codec, and
 * typed stores over any `@p2/kv` store (intent, reality, uuid pods, health, labels, status,
 * controller records, pod clusters, audit logs, locks).
 *
 * @packageDocumentation
 */
export {
  type DsStatus,
  decodeDsStatus,
  decodeRcStatus,
  decodeRollStatus,
  encodeDsStatus,
  encodeRcStatus,
  encodeRollStatus,
  type RcNodeCounts,
  type RcNodeTransfer,
  type RcStatus,
  type RollState,
  type RollStatus,
} from './controller-status.js';
export {
  type DelegatingKind,
  delegationStatement,
  keepValidSignature,
  type RecordStatement,
  type StatementSigner,
  StoreDelegationRecords,
  sameStatement,
  signForWrite,
} from './delegation.js';
export {
  type DeploySpan,
  decodePodEvents,
  decodePodHistory,
  EVENTS_PER_POD,
  type KnownEntry,
  type PodEvent,
  PodEventStore,
  type PodEventType,
  PodHistoryStore,
  type PodRevision,
  REVISIONS_PER_POD,
  rollbackTarget,
} from './events.js';
export { type GateReport, GateReportStore, gateReportKey } from './gates.js';
export {
  decodeHealthRecord,
  encodeHealthRecord,
  HEALTH_STATES,
  type HealthRecord,
  type HealthRecordInput,
  type HealthState,
  HealthStore,
  healthKey,
  isHealthState,
  parseHealthKey,
  parseHealthState,
  podHealthPrefix,
} from './health.js';
export { resolveIdPrefix } from './id-prefix.js';
export type { ReadProblem } from './json.js';
export {
  auditLogKey,
  dsKey,
  dsStatusKey,
  idFromKey,
  intentKey,
  lockKeys,
  lockPrefixes,
  nodePodsPrefix,
  type PodTreeName,
  Prefix,
  parsePodTreeKey,
  parsePreparerStatusKey,
  podClusterKey,
  podEventsKey,
  podHistoryKey,
  podTreeKey,
  preparerNodeKey,
  preparerStatusKey,
  preparerStatusPrefix,
  rcKey,
  rcStatusKey,
  realityKey,
  rollKey,
  rollStatusKey,
  uuidPodKey,
} from './keys.js';
export {
  type IndexedLabels,
  type LabelChange,
  LabelStore,
  type LabelStoreOptions,
} from './label-store.js';
export {
  assertLabelType,
  decodeLabels,
  encodeLabels,
  isLabelType,
  LABEL_TYPES,
  type Labeled,
  type LabelType,
  labelKey,
  labelTypePrefix,
  parseLabelKey,
  parsePodLabelId,
  podLabelId,
} from './labels.js';
export {
  type CreatePodCluster,
  decodePodCluster,
  defaultPodSelector,
  encodePodCluster,
  type PodClusterChange,
  type PodClusterMember,
  type PodClusterMembership,
  type PodClusterRecord,
  PodClusterStore,
} from './pod-clusters.js';
export { type NodePods, type PodRecord, PodTree, UuidPodStore } from './pods.js';
export { type PrestageReport, type PrestageRequest, PrestageStore } from './prestage.js';
export {
  type AllocationStrategy,
  type AuditEventType,
  AuditLogStore,
  type AuditRecord,
  auditLogOp,
  type DsRecord,
  decodeAudit,
  decodeDs,
  decodeRc,
  decodeRoll,
  encodeAudit,
  encodeDs,
  encodeRc,
  encodeRoll,
  type MetricGate,
  type RcRecord,
  ROLL_DEFAULTS,
  type RollRecord,
  type RollStrategy,
} from './records.js';
export {
  decodePreparerStatus,
  encodePodStatus,
  encodePreparerStatus,
  type PodStatus,
  type PreparerNodeStatus,
  type PreparerPodStatus,
  PreparerStatusStore,
  type ProcessExit,
  type ProcessReport,
  StatusStore,
  type StatusType,
  withProcessExits,
} from './status.js';
