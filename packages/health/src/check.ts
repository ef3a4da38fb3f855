import http from 'node:http';
import https from 'node:https';
import { redactUrl } from '@p2/errors';
import type { Manifest, StatusCheck } from '@p2/manifest';
import type { HealthState } from './state.js';

/** What to check for one pod: its status settings (from the manifest) and the node it runs on. */
export interface HealthTarget {
  podId: string;
  /** The manifest's status settings; `undefined` = no status port, which P2 reports as `passing`. */
  status: StatusCheck | undefined;
  /** Host to probe unless `status.localhostOnly` (then `localhost`): the node name, as in P2. */
  host: string;
  /** For `HealthChecker`: check this pod at this interval instead of the checker's default. */
  intervalMs?: number;
}

/** TLS material for https checks (the preparer's configured CA, and a client certificate if any). */
export interface HealthTlsOptions {
  /** CA certificate(s) (PEM) that sign the pods' certificates. @default Node's bundled roots */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate (PEM) presented to the pod. */
  cert?: string | Buffer;
  /** Client private key (PEM). */
  key?: string | Buffer;
}

/** Options of {@link checkPodHealth}. */
export interface HealthCheckOptions {
  /** Budget for the whole check (connect, TLS, headers, redirects, body). @default 5000 (P2's `healthcheck_timeout`) */
  timeoutMs?: number;
  tls?: HealthTlsOptions;
  /** Same-origin redirects to follow; a redirect to another scheme, host or port is never followed. @default 5 */
  maxRedirects?: number;
  /** Bytes of body read before the answer counts as complete (the rest is not downloaded). @default 65536 */
  maxBodyBytes?: number;
  signal?: AbortSignal;
  /** Clock, for results' `checkedAt`. @default () => new Date() */
  now?: () => Date;
}

/** The outcome of one check. Failures are results (`critical` with a reason), never exceptions. */
export interface HealthResult {
  status: HealthState;
  /** Why, for people: `HTTP 200`, `connection refused`, `timed out after 5000 ms waiting for …`. */
  reason: string;
  /** The last HTTP status received, if any. */
  httpStatus?: number;
  /** Node's error code for transport failures (`ECONNREFUSED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, …). */
  errorCode?: string;
  /** The URL probed (credentials redacted); absent when there is no status port. */
  url?: string;
  durationMs: number;
  checkedAt: Date;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_REDIRECTS = 5;
const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * The target of a pod from its manifest, as P2 derived it (port, path, http/https, localhost-only).
 *
 * @example healthTarget(parseManifest('id: web\nstatus_port: 8080\nstatus_http: true\n'), 'h1')
 * // { podId: 'web', host: 'h1', status: { port: 8080, path: '/_status', scheme: 'http', localhostOnly: false } }
 */
export function healthTarget(manifest: Manifest, node: string): HealthTarget {
  return { podId: manifest.id, status: manifest.statusCheck(), host: node };
}

/** The URL a target is probed at, or `undefined` when it has no status port. */
export function healthCheckUrl(target: HealthTarget): URL | undefined {
  const status = target.status;
  if (status === undefined) return undefined;
  const host = status.localhostOnly ? 'localhost' : target.host;
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return new URL(`${status.scheme}://${hostPart}:${status.port}${status.path}`);
}

/**
 * Checks one pod once: `GET <scheme>://<host>:<port><path>` (P2 sent `HEAD`; see the README).
 * Any 2xx is `passing`; any other answer, a timeout, a refused connection, a TLS failure or a
 * connection closed mid-response is `critical` with the reason. No status port: `passing` without a
 * request, as P2 did. Never throws for a failing pod.
 *
 * @example
 * ```ts
 * const r = await checkPodHealth({ podId: 'web', host: '127.0.0.1', status: { port: 8080, path: '/_status', scheme: 'http', localhostOnly: false } });
 * r.status; // 'passing' when GET http://127.0.0.1:8080/_status answered 2xx
 * ```
 */
export async function checkPodHealth(
  target: HealthTarget,
  options: HealthCheckOptions = {},
): Promise<HealthResult> {
  const now = options.now ?? (() => new Date());
  const checkedAt = now();
  const started = performance.now();
  const done = (r: Omit<HealthResult, 'durationMs' | 'checkedAt'>): HealthResult => ({
    ...r,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    checkedAt,
  });

  const status = target.status;
  if (status === undefined) {
    return done({ status: 'passing', reason: 'no status port: passing without a request (as P2)' });
  }
  if (!Number.isInteger(status.port) || status.port < 1 || status.port > 65535) {
    return done({
      status: 'critical',
      reason: `status port ${status.port} is not a TCP port (expected 1–65535)`,
    });
  }
  let url: URL;
  try {
    url = healthCheckUrl(target)!;
  } catch (error) {
    return done({
      status: 'critical',
      reason: `cannot form a URL from host ${JSON.stringify(target.host)} and path ${JSON.stringify(status.path)}: ${(error as Error).message}`,
    });
  }

  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const deadline = new Deadline(timeoutMs, options.signal);
  let phase = 'connecting';

  let httpStatus: number | undefined;
  try {
    for (let redirects = 0; ; redirects++) {
      const answer = await requestOnce(url, {
        signal: deadline.signal,
        // P2 probed localhost-only pods with an unverified TLS client (the name cannot match).
        verify: !status.localhostOnly,
        tls: options.tls,
        maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        onPhase: (p) => {
          phase = p;
        },
        onStatus: (code) => {
          httpStatus = code;
        },
      });
      httpStatus = answer.statusCode;
      if (REDIRECT_STATUSES.has(answer.statusCode) && answer.location !== undefined) {
        const next = new URL(answer.location, url);
        if (next.origin !== url.origin) {
          return done({
            status: 'critical',
            reason: `HTTP ${answer.statusCode} redirect to another origin (${redactUrl(next)}) is not followed`,
            httpStatus,
            url: redactUrl(url),
          });
        }
        if (redirects >= maxRedirects) {
          return done({
            status: 'critical',
            reason: `HTTP ${answer.statusCode}: more than ${maxRedirects} redirects`,
            httpStatus,
            url: redactUrl(url),
          });
        }
        url = next;
        continue;
      }
      const ok = answer.statusCode >= 200 && answer.statusCode < 300;
      return done({
        status: ok ? 'passing' : 'critical',
        reason: `HTTP ${answer.statusCode}`,
        httpStatus,
        url: redactUrl(url),
      });
    }
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    const reason = deadline.timedOut
      ? `timed out after ${timeoutMs} ms ${phase}`
      : options.signal?.aborted
        ? 'check cancelled'
        : describeTransportError(err, phase);
    return done({
      status: 'critical',
      reason,
      ...(httpStatus === undefined ? {} : { httpStatus }),
      ...(deadline.timedOut ? { errorCode: 'ETIMEDOUT' } : err.code ? { errorCode: err.code } : {}),
      url: redactUrl(url),
    });
  } finally {
    deadline.dispose();
  }
}

/** Options of {@link requestBody}. @internal */
export interface RequestBodyOptions {
  timeoutMs: number;
  verify: boolean;
  tls: HealthTlsOptions | undefined;
  maxBodyBytes: number;
  signal?: AbortSignal;
}

/**
 * One `GET` whose body is kept (redirects are not followed): the status and body, or the reason it
 * failed (transport errors described as for checks; never the body).
 * @internal
 */
export async function requestBody(
  url: URL,
  options: RequestBodyOptions,
): Promise<{ ok: true; statusCode: number; body: Buffer } | { ok: false; reason: string }> {
  const deadline = new Deadline(options.timeoutMs, options.signal);
  let phase = 'connecting';
  const collect: Buffer[] = [];
  try {
    const answer = await requestOnce(url, {
      signal: deadline.signal,
      verify: options.verify,
      tls: options.tls,
      maxBodyBytes: options.maxBodyBytes,
      collect,
      onPhase: (p) => {
        phase = p;
      },
      onStatus: () => undefined,
    });
    return { ok: true, statusCode: answer.statusCode, body: Buffer.concat(collect) };
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    return {
      ok: false,
      reason: deadline.timedOut
        ? `timed out after ${options.timeoutMs} ms ${phase}`
        : err.code === 'E2BIG'
          ? `the answer is over ${options.maxBodyBytes} bytes`
          : describeTransportError(err, phase),
    };
  } finally {
    deadline.dispose();
  }
}

/** An abort signal that fires after `timeoutMs` or with `outer`, whichever comes first. */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onOuterAbort = () => this.controller.abort();
  timedOut = false;

  constructor(
    timeoutMs: number,
    private readonly outer: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, timeoutMs);
    outer?.addEventListener('abort', this.onOuterAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onOuterAbort);
  }
}

function describeTransportError(err: NodeJS.ErrnoException, phase: string): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${err.code})`;
    case 'ECONNRESET':
      return phase === 'reading the response body'
        ? 'connection closed mid-response'
        : `connection reset while ${phase}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `host unreachable (${err.code})`;
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_VERSION':
      return `not an HTTP answer (${err.code}); does the pod serve https while the manifest says http?`;
    default:
      break;
  }
  if (err.code !== undefined && /CERT|SIGNATURE|SELF_SIGNED|TLS|SSL|ALTNAME/.test(err.code)) {
    return `TLS verification failed (${err.code}): ${err.message}`;
  }
  if (err.code === 'EPROTO' || /wrong version number|ssl/i.test(err.message)) {
    return `TLS handshake failed: ${err.message}`;
  }
  return `${err.code ? `${err.code}: ` : ''}${err.message || 'request failed'} while ${phase}`;
}

interface RequestOnceOptions {
  signal: AbortSignal;
  verify: boolean;
  tls: HealthTlsOptions | undefined;
  maxBodyBytes: number;
  /** Keeps the body here; more than `maxBodyBytes` of it is then an error (`E2BIG`). */
  collect?: Buffer[];
  onPhase(phase: string): void;
  onStatus(statusCode: number): void;
}

/** One GET; resolves once the body is complete (or `maxBodyBytes` were read). */
function requestOnce(
  url: URL,
  options: RequestOnceOptions,
): Promise<{ statusCode: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    const isHttps = url.protocol === 'https:';
    const requestOptions: https.RequestOptions = {
      method: 'GET',
      agent: false,
      signal: options.signal,
      headers: { 'user-agent': 'p2-health', accept: '*/*', connection: 'close' },
    };
    if (isHttps) {
      requestOptions.rejectUnauthorized = options.verify;
      if (options.tls?.ca !== undefined) requestOptions.ca = options.tls.ca;
      if (options.tls?.cert !== undefined) requestOptions.cert = options.tls.cert;
      if (options.tls?.key !== undefined) requestOptions.key = options.tls.key;
    }
    options.onPhase('connecting');
    const req = (isHttps ? https : http).request(url, requestOptions);
    req.on('socket', (socket) => {
      socket.once(isHttps ? 'secureConnect' : 'connect', () =>
        options.onPhase('waiting for the response headers'),
      );
    });
    req.on('error', (error) => settle(() => reject(error)));
    req.on('response', (res) => {
      options.onPhase('reading the response body');
      const statusCode = res.statusCode ?? 0;
      options.onStatus(statusCode);
      const location = typeof res.headers.location === 'string' ? res.headers.location : undefined;
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (options.collect && read > options.maxBodyBytes) {
          const error: NodeJS.ErrnoException = new Error(
            `answer over ${options.maxBodyBytes} bytes`,
          );
          error.code = 'E2BIG';
          settle(() => reject(error));
          res.destroy();
          return;
        }
        options.collect?.push(chunk);
        if (!options.collect && read >= options.maxBodyBytes) {
          // Enough: the status code is the answer. Stop downloading.
          settle(() => resolve({ statusCode, location }));
          res.destroy();
        }
      });
      res.on('end', () => settle(() => resolve({ statusCode, location })));
      res.on('error', (error) => settle(() => reject(error)));
      res.on('close', () => {
        if (!res.complete) {
          const error: NodeJS.ErrnoException = new Error('connection closed mid-response');
          error.code = 'ECONNRESET';
          settle(() => reject(error));
        }
      });
    });
    req.end();
  });
}
