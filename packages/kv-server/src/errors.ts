import { P2Error } from '@p2/errors';

/** Stable codes of {@link KvServerError}. */
export const KvServerErrorCodes = {
  /** The data directory holds a log or snapshot that cannot be read back. */
  DATA_CORRUPT: 'P2_KV_SERVER_DATA_CORRUPT',
  /** The data directory cannot be created, locked or written. */
  DATA_DIR: 'P2_KV_SERVER_DATA_DIR',
  /** Invalid options given to `startKvServer` or the binary. */
  BAD_OPTIONS: 'P2_KV_SERVER_BAD_OPTIONS',
  /** The HTTP listener could not be started (port in use, permission). */
  LISTEN: 'P2_KV_SERVER_LISTEN',
  /** The store's TLS certificate or key cannot be made, or one found is not safe to use. */
  TLS: 'P2_KV_SERVER_TLS',
} as const;

/** A code of {@link KvServerErrorCodes}. */
export type KvServerErrorCode = (typeof KvServerErrorCodes)[keyof typeof KvServerErrorCodes];

/** The one error class of `@p2/kv-server`. */
export class KvServerError extends P2Error<KvServerErrorCode> {}
