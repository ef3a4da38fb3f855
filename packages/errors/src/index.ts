/**
 * The root of every p2 error family, plus credential redaction.
 *
 * Each package defines one subclass (`HoistError`, `KvError`, …) with its own table of stable codes.
 * Operators and scripts match on `code`; people read `message` and `hint`.
 *
 * @example
 * ```ts
 * const Codes = { DIGEST_MISMATCH: 'P2_HOIST_DIGEST_MISMATCH' } as const;
 * class HoistError extends P2Error<(typeof Codes)[keyof typeof Codes]> {}
 * throw new HoistError(Codes.DIGEST_MISMATCH, 'expected sha256 ab…, found cd… for https://host/a.tar.gz', {
 *   hint: 'the artifact changed after the manifest was written; rebuild or fix digest_location',
 * });
 * ```
 */
export interface P2ErrorOptions {
  /** The next step an operator can take, when there is one. */
  hint?: string;
  /** The underlying error (a foreign error converted at a package boundary). */
  cause?: unknown;
  /** Structured data an operator or a program needs (expected and actual values, paths, keys). */
  details?: Record<string, unknown>;
}

/** Base class of every p2 error. `code` is stable across releases; `message` is for people. */
export class P2Error<Code extends string = string> extends Error {
  readonly code: Code;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: Code, message: string, options: P2ErrorOptions = {}) {
    super(
      redactCredentials(message),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }

  /** A plain object for JSON output and structured logs. */
  toJSON(): {
    name: string;
    code: string;
    message: string;
    hint?: string;
    details?: Record<string, unknown>;
  } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(Object.keys(this.details).length === 0 ? {} : { details: this.details }),
    };
  }
}

/** True when `error` is a p2 error, optionally with the given code. */
export function isP2Error(error: unknown, code?: string): error is P2Error {
  return error instanceof P2Error && (code === undefined || error.code === code);
}

const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^/\s:@]+)(:[^/\s@]*)?@/gi;
const SECRET_QUERY =
  /([?&](?:token|access_token|password|passwd|secret|key|signature|sig|x-consul-token)=)[^&#\s]*/gi;
const AUTH_HEADER =
  /\b(authorization|x-consul-token|x-vault-token)("?\s*[:=]\s*"?)(?:(?:bearer|basic)\s+)?[^\s",}]+/gi;

/**
 * Removes credentials from any text: `user:pass@` in URLs, secret-looking query parameters, and
 * authorization headers. Applied to every p2 error message; use it on anything you log.
 *
 * @example redactCredentials('https://bob:s3cret@host/a?token=x') // 'https://***@host/a?token=***'
 */
export function redactCredentials(text: string): string {
  return text
    .replace(URL_USERINFO, '$1***@')
    .replace(SECRET_QUERY, '$1***')
    .replace(AUTH_HEADER, '$1$2***');
}

/** Redacts a URL (string or `URL`) for display. */
export function redactUrl(url: string | URL): string {
  return redactCredentials(typeof url === 'string' ? url : url.href);
}

/** A readable one-line description of any thrown value, for wrapping foreign errors. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return redactCredentials(error.message || error.name);
  return redactCredentials(String(error));
}
