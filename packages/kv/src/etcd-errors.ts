/** `etcd3`'s errors turned into `KvError`s at the boundary. */
import { describeError } from '@p2/errors';
import { KvError, KvErrorCodes } from './errors.js';
import { CLIENT_CERT_HINT, clientCertificateRefused } from './tls-files.js';

/** The names of `etcd3` errors that mean "the cluster could not be reached or has no leader". */
const UNAVAILABLE_ERRORS = new Set([
  'GRPCUnavailableError',
  'GRPCDeadlineExceededError',
  'GRPCConnectFailedError',
  'GRPCCancelledError',
  'BrokenCircuitError',
  'TaskCancelledError',
  'ClientClosedError',
]);
/** gRPC status codes CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE. */
const UNAVAILABLE_CODES = new Set<unknown>([1, 4, 14]);
const DENIED_ERRORS = new Set([
  'EtcdAuthenticationFailedError',
  'EtcdPermissionDeniedError',
  'EtcdInvalidAuthTokenError',
  'GRPCUnauthenticatedError',
  'EtcdRoleNotGrantedError',
]);

/**
 * etcd's request size limit: `--max-request-bytes` (1.5 MiB by default) refused by etcd itself, or
 * a gRPC message over the server's receive limit (that limit plus 512 KiB) refused by gRPC.
 */
export function isRequestTooLarge(error: unknown): boolean {
  return /request is too large|larger than max/i.test(describeError(error));
}

/** What `isRequestTooLarge` errors say, for messages. */
export const REQUEST_LIMIT_TEXT =
  "etcd's request size limit (--max-request-bytes, 1.5 MiB unless the cluster sets another)";

/**
 * A `KvError` for a failed etcd call: `P2_KV_VALUE_TOO_LARGE` (over etcd's request size limit),
 * `P2_KV_UNAVAILABLE` (unreachable, no leader),
 * `P2_KV_PERMISSION_DENIED` (auth), else `P2_KV_REQUEST_FAILED` with the etcd error's name.
 */
export function convertEtcdError(what: string, description: string, error: unknown): KvError {
  const name = (error as { constructor?: { name?: string } })?.constructor?.name ?? '';
  if (isRequestTooLarge(error)) {
    return new KvError(
      KvErrorCodes.VALUE_TOO_LARGE,
      `${what} on ${description} is over ${REQUEST_LIMIT_TEXT}`,
      {
        cause: error,
        hint: 'store large data elsewhere and keep a reference in the store, or raise --max-request-bytes on every member',
      },
    );
  }
  const message = `${what} on ${description} failed: ${describeError(error)}`;
  // Stream errors reach us as gRPC's own errors, with a status code and no etcd3 class.
  const code = (error as { code?: unknown })?.code;
  if (UNAVAILABLE_ERRORS.has(name) || (name === 'Error' && UNAVAILABLE_CODES.has(code))) {
    return new KvError(KvErrorCodes.UNAVAILABLE, message, {
      cause: error,
      // etcd `--client-cert-auth` ends the TLS handshake with an alert when we have no certificate.
      hint: clientCertificateRefused(message)
        ? CLIENT_CERT_HINT
        : 'check that the etcd members are running and reachable, and that a quorum is up',
    });
  }
  if (DENIED_ERRORS.has(name)) {
    return new KvError(KvErrorCodes.PERMISSION_DENIED, message, {
      cause: error,
      hint: 'check the user:password in the store URL and the role permissions on the key range',
    });
  }
  return new KvError(KvErrorCodes.REQUEST_FAILED, message, {
    cause: error,
    details: { etcdError: name },
  });
}

/** Whether etcd refused because a lease (a session's, or the tombstones') no longer exists. */
export function isLeaseNotFound(error: unknown): boolean {
  return /lease not found/i.test(describeError(error));
}
