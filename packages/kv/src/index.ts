/**
 * `@p2/kv`: the p2 store contract and its backends (Consul over HTTP, etcd). P2's key layout is
 * `@p2/keyspace`.
 *
 * @packageDocumentation
 */

/** JSON as Go's `encoding/json` writes it (from `@p2/go`; kept here for existing callers). */
export { goJson } from '@p2/go';
export { type BackendFactory, createStore, registerBackend, type StoreOptions } from './backend.js';
export {
  ConsulStore,
  type ConsulStoreOptions,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_IDLE_CONNECTIONS,
} from './consul.js';
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
  storeUrlFromEnv,
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
export {
  sleep,
  type WatchOptions,
  watchIndexed,
  watchKey,
  watchKeys,
  watchPrefix,
} from './watch.js';
