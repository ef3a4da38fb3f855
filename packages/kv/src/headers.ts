/**
 * Extra HTTP headers on every request to the store (P2's `additional_consul_headers`; `p2 --header`):
 * checked once, and never quoted — a header often carries a credential, so messages name the
 * header, never its value.
 */
import { KvError, KvErrorCodes } from './errors.js';

/** Headers that carry the ACL token: set only from the token, never silently replaced by a header. */
const TOKEN_HEADERS = new Set(['x-consul-token', 'authorization']);
/** Headers the HTTP client itself owns. */
const CLIENT_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
]);
/** RFC 9110 field names. */
const NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function refuse(message: string, hint: string, name?: string): never {
  throw new KvError(KvErrorCodes.BAD_OPTIONS, message, {
    hint,
    ...(name !== undefined ? { details: { header: name } } : {}),
  });
}

/**
 * Checks extra headers before any request: valid names, values without line breaks, no header the
 * ACL token or the HTTP client owns. Returns them with lower-case names.
 *
 * @throws KvError `P2_KV_BAD_OPTIONS` naming the header (never its value)
 * @example checkExtraHeaders({ 'X-Request-Source': 'deploy-bot' }) // { 'x-request-source': 'deploy-bot' }
 */
export function checkExtraHeaders(
  headers: Readonly<Record<string, string>>,
): Record<string, string> {
  const checked: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!NAME.test(name))
      refuse(
        `extra header name ${JSON.stringify(name)} is not a valid HTTP header name`,
        'use letters, digits and -',
      );
    const lower = name.toLowerCase();
    if (TOKEN_HEADERS.has(lower))
      refuse(
        `extra header ${name} would replace the store's ACL token`,
        'pass the token with --token, --token-file or CONSUL_HTTP_TOKEN(_FILE), not as a header',
        name,
      );
    if (CLIENT_HEADERS.has(lower))
      refuse(
        `extra header ${name} is set by the HTTP client itself`,
        `drop the ${name} header`,
        name,
      );
    if (/[\r\n\0]/.test(value))
      refuse(
        `extra header ${name} has a line break or NUL in its value`,
        'give the value on one line',
        name,
      );
    if (lower in checked)
      refuse(`extra header ${name} is given twice`, 'give each header once', name);
    checked[lower] = value;
  }
  return checked;
}
