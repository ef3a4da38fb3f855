/**
 * `@p2/kv`: the p2 store contract, P2's key layout as typed stores, and backends (Consul over HTTP).
 *
 * @packageDocumentation
 */

/** JSON as Go's `encoding/json` writes it (from `@p2/go`; kept here for existing callers). */
export { goJson } from '@p2/go';
export { type BackendFactory, createStore, registerBackend, type StoreOptions } from './backend.js';
export { ConsulStore, type ConsulStoreOptions } from './consul.js';
export { KvError, type KvErrorCode, KvErrorCodes } from './errors.js';
export { EtcdStore, type EtcdStoreOptions } from './etcd.js';
export {
  assertSegment,
  assertUuid,
  assertValueSize,
  assertWritableKey,
  isCanonicalUuid,
  looksLikeUuid,
  MAX_TXN_OPS,
  MAX_VALUE_BYTES,
} from './keys.js';
export {
  AuditLogStore,
  type AuditRecord,
  HEALTH_STATES,
  type HealthRecord,
  type HealthState,
  HealthStore,
  LABEL_TYPES,
  type LabelRecord,
  type LabelType,
  lockKeys,
  type NodePods,
  type PodRecord,
  type PodStatus,
  PodTree,
  RawLabelStore,
  type ReadProblem,
  RecordStore,
  StatusStore,
  type StatusType,
  UuidPodStore,
  validateReplicationController,
} from './layout.js';
export {
  acquireLock,
  type HeldLock,
  type LockOptions,
  type ManagedSession,
  type ManagedSessionOptions,
  manageSession,
  startSession,
} from './session.js';
export {
  DEFAULT_STORE_CA_FILE,
  DEFAULT_TOKEN_FILE,
  defaultStoreUrl,
  type EnsuredToken,
  ensureTokenFile,
  explainDenied,
  findStoreToken,
  readTokenFile,
  type StoreToken,
  type StoreTokenLookup,
  type StoreTokenSource,
  TOKEN_FILE_ENV,
  TOKEN_HINT,
  type TokenFileChecks,
  tokenSha256,
} from './token.js';
export { Transaction } from './txn.js';
export type {
  Indexed,
  KvEntry,
  ReadOptions,
  SessionInfo,
  SessionOptions,
  Store,
  TxnOp,
  TxnResult,
  WriteOptions,
} from './types.js';
export { type WatchOptions, watchIndexed, watchKey, watchKeys, watchPrefix } from './watch.js';
