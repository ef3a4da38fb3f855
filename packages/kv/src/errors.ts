import { P2Error } from '@p2/errors';

/** Stable codes of {@link KvError}. */
export const KvErrorCodes = {
  /** `createStore` got a URL whose scheme has no backend (yet). */
  UNSUPPORTED_BACKEND: 'P2_KV_UNSUPPORTED_BACKEND',
  /** A store URL or option could not be understood. */
  BAD_OPTIONS: 'P2_KV_BAD_OPTIONS',
  /** A key, pod id, node name or uuid refused before writing. */
  INVALID_KEY: 'P2_KV_INVALID_KEY',
  /** A value above the 512 KiB Consul limit. */
  VALUE_TOO_LARGE: 'P2_KV_VALUE_TOO_LARGE',
  /** More than 64 operations in one transaction (P2's cap). */
  TXN_TOO_LARGE: 'P2_KV_TXN_TOO_LARGE',
  /** The store could not be reached (connection refused, reset, timeout, TLS). */
  UNAVAILABLE: 'P2_KV_UNAVAILABLE',
  /** The store answered with an error status (400, 403, 413, 500…); `details.status` has it. */
  REQUEST_FAILED: 'P2_KV_REQUEST_FAILED',
  /** The ACL token was refused (403). */
  PERMISSION_DENIED: 'P2_KV_PERMISSION_DENIED',
  /** A session is unknown, expired or destroyed. */
  SESSION_INVALID: 'P2_KV_SESSION_INVALID',
  /** A lock could not be taken: held by another session, or within its lock-delay. */
  LOCK_HELD: 'P2_KV_LOCK_HELD',
  /** A lock that was held has been lost (session died, key deleted or taken). */
  LOCK_LOST: 'P2_KV_LOCK_LOST',
  /** A check-and-set lost a race (the key changed since it was read). */
  CAS_FAILED: 'P2_KV_CAS_FAILED',
  /** A stored record could not be decoded (bad JSON, missing field, bad key shape). */
  BAD_RECORD: 'P2_KV_BAD_RECORD',
  /** A record asked for by id does not exist (`@p2/keyspace`'s typed stores). */
  NOT_FOUND: 'P2_KV_NOT_FOUND',
  /** A record that must be unique already exists (a pod cluster's pod id + az + name). */
  ALREADY_EXISTS: 'P2_KV_ALREADY_EXISTS',
  /** The operation was cancelled through its AbortSignal. */
  ABORTED: 'P2_KV_ABORTED',
  /** A token file is not safe to trust: a symlink, not a regular file, wrong owner or mode. */
  TOKEN_FILE_UNSAFE: 'P2_KV_TOKEN_FILE_UNSAFE',
  /** A token file is missing, unreadable by this user, or empty. */
  TOKEN_FILE_UNREADABLE: 'P2_KV_TOKEN_FILE_UNREADABLE',
} as const;

/** A code of {@link KvErrorCodes}. */
export type KvErrorCode = (typeof KvErrorCodes)[keyof typeof KvErrorCodes];

/** The one error class of `@p2/kv`. Foreign errors (consul, papi, node) are wrapped as `cause`. */
export class KvError extends P2Error<KvErrorCode> {}
