/**
 * `@p2/kv-server`: a single-node server speaking the part of Consul's HTTP API that p2 uses (KV,
 * sessions, locks with lock-delay, transactions, blocking queries), durable on disk. It is not Consul.
 *
 * @packageDocumentation
 */
export { KvServerError, type KvServerErrorCode, KvServerErrorCodes } from './errors.js';
export type { Recovery } from './log.js';
export { type KvServer, type KvServerOptions, startKvServer } from './server.js';
export {
  DEFAULT_TLS_DIR,
  ensureStoreCertificate,
  type StoreCertificate,
  type StoreCertificateOptions,
} from './tls.js';
