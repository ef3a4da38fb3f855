import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { type FileHandle, open, stat, truncate } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError, redactUrl } from '@p2/errors';
import got, { type Response } from 'got';
import type { Logger } from 'pino';
import { HoistError, HoistErrorCodes } from './errors.js';
import {
  DEFAULT_MAX_DOCUMENT_BYTES,
  type FileLocation,
  openLocalFile,
  readLocalDocument,
} from './local.js';
import { type ResolvedLocation, resolveLocation } from './location.js';
import { silentLogger } from './logger.js';

/** One progress report of a download (or of hashing a local artifact). */
export interface DownloadProgress {
  /** Bytes of the artifact received so far, including bytes kept from an interrupted attempt. */
  bytes: number;
  /** Size of the artifact when the server announced it. */
  total: number | undefined;
  /** Average speed of the current attempt, in bytes per second. */
  bytesPerSecond: number;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
  /** `true` once the last byte arrived. */
  done: boolean;
}

/** Timeouts of one HTTP attempt, in milliseconds. */
export interface FetchTimeouts {
  /** TCP connect (and TLS handshake). @default 30_000 */
  connectMs?: number;
  /** From the request being sent to the response headers. @default 30_000 */
  responseMs?: number;
  /** Longest silence on the socket while the body streams. @default 60_000 */
  idleMs?: number;
  /** Whole attempt, body included; unset means no limit (large artifacts on slow links). */
  totalMs?: number;
}

/** Options of {@link downloadArtifact} and {@link fetchBytes}. */
export interface FetchOptions {
  /** CA certificates (PEM) trusted for `https:`; they replace Node's bundled root CAs. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate (PEM) presented to `https:` servers that ask for one (mTLS). Goes with `key`. */
  cert?: string | Buffer;
  /** Private key (PEM) of `cert`. Never logged. */
  key?: string | Buffer;
  /** Per-attempt timeouts. */
  timeouts?: FetchTimeouts;
  /** Retries after a transient failure (connection reset, timeout, 408/429/5xx). @default 5 */
  retries?: number;
  /** First retry delay; doubles on each retry, with jitter, capped by `maxBackoffMs`. @default 500 */
  backoffMs?: number;
  /** @default 30_000 */
  maxBackoffMs?: number;
  /** Extra request headers (e.g. an `authorization` token; never logged). */
  headers?: Record<string, string>;
  /** Refuse artifacts larger than this. @default 20 GiB */
  maxBytes?: number;
  /**
   * Refuse documents ({@link fetchBytes}: digests, signatures, build manifests) larger than this,
   * local or remote. `maxBytes`, when smaller, applies too. @default 4 MiB
   */
  maxDocumentBytes?: number;
  /**
   * Absolute directories that local locations (`file:` URLs and plain paths) may come from. A local
   * location outside them — as written or after resolving symlinks — is refused with
   * `P2_HOIST_LOCAL_LOCATION_REFUSED`, as is anything that is not a regular file (FIFO, device,
   * directory). When the process runs as root, the file and every directory above it must also be
   * root-owned and not writable by group or others. HTTP(S) locations are not affected.
   * @default [] — every local location is refused
   */
  localRoots?: readonly string[];
  /** Called with progress, at most every `progressIntervalMs`, and once when done. */
  onProgress?: (progress: DownloadProgress) => void;
  /** @default 250 */
  progressIntervalMs?: number;
  /** Cancels the transfer. */
  signal?: AbortSignal;
  /** Structured logs (pino). @default silent */
  logger?: Logger;
}

/** What {@link downloadArtifact} produced. */
export interface DownloadResult {
  /** The file written. */
  path: string;
  /** Lowercase hex SHA-256 of the file, computed while it streamed in. */
  sha256: string;
  size: number;
  /** Attempts made (1 when nothing had to be retried). */
  attempts: number;
  /** `true` when a retry continued a partial download with an HTTP Range request. */
  resumed: boolean;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const RETRYABLE_ERRNO = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
];
const DEFAULT_DOWNLOAD_MAX = 20 * 1024 ** 3;

/**
 * Downloads an artifact to `destPath` (created or truncated), computing its SHA-256 on the fly.
 * HTTP(S) downloads retry transient failures with exponential backoff and, when the server
 * supports ranges (`Accept-Ranges: bytes`, validated with `If-Range`), continue where the
 * interrupted attempt stopped. `file:` locations and plain paths are copied, when they lie in
 * `localRoots` (see {@link FetchOptions.localRoots}).
 *
 * @throws HoistError `P2_HOIST_LOCAL_LOCATION_REFUSED` (a local location outside `localRoots`,
 *   not a regular file, or not root-owned when running as root),
 *   `P2_HOIST_ARTIFACT_NOT_FOUND` (404/410, missing file),
 *   `P2_HOIST_FETCH_HTTP_STATUS` (other non-retryable status), `P2_HOIST_FETCH_FAILED` (network or
 *   TLS failure after every retry), `P2_HOIST_FETCH_TOO_LARGE`, `P2_HOIST_ABORTED`,
 *   `P2_HOIST_LOCATION_INVALID`, `P2_HOIST_IO`
 * @example
 * ```ts
 * const { sha256, size } = await downloadArtifact('https://artifacts.local/app_1.tar.gz', '/tmp/a', {
 *   onProgress: ({ bytes, total, bytesPerSecond }) => bar.update(bytes, total),
 * });
 * ```
 */
export async function downloadArtifact(
  location: string | ResolvedLocation,
  destPath: string,
  options: FetchOptions = {},
): Promise<DownloadResult> {
  const resolved = typeof location === 'string' ? resolveLocation(location) : location;
  if (resolved.kind === 'file') return copyLocalFile(resolved, destPath, options);
  return new HttpDownload(resolved, destPath, options).run();
}

/**
 * Fetches a small document (a digest file, a signature, a build manifest) into memory, with the
 * same retries, timeouts, CA and `localRoots` as {@link downloadArtifact}. Local files are read
 * through one descriptor, never past the limit.
 *
 * @throws HoistError as {@link downloadArtifact}; `P2_HOIST_FETCH_TOO_LARGE` past
 *   `maxDocumentBytes` (default 4 MiB)
 * @example
 * ```ts
 * const digest = (await fetchBytes('https://artifacts.local/app_1.digest')).toString('utf8');
 * ```
 */
export async function fetchBytes(
  location: string | ResolvedLocation,
  options: FetchOptions = {},
): Promise<Buffer> {
  const resolved = typeof location === 'string' ? resolveLocation(location) : location;
  const maxBytes = Math.min(
    options.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES,
    options.maxBytes ?? Number.POSITIVE_INFINITY,
  );
  if (resolved.kind === 'file') return readLocalDocument(resolved, options.localRoots, maxBytes);
  const chunks: Buffer[] = [];
  await new HttpDownload(resolved, undefined, { ...options, maxBytes }, chunks).run();
  return Buffer.concat(chunks);
}

/**
 * Hashes a local file (streaming), reporting progress like a download. Given an open handle, reads
 * through it (positional reads; the handle stays open).
 * @internal
 */
export async function hashFile(
  source: string | FileHandle,
  onProgress?: (progress: DownloadProgress) => void,
  start = 0,
  hash: Hash = createHash('sha256'),
): Promise<{ sha256: string; size: number; hash: Hash }> {
  const meter = new Meter(
    start,
    undefined,
    1,
    onProgress,
    250,
    Number.POSITIVE_INFINITY,
    undefined,
    hash,
  );
  await pipeline(
    typeof source === 'string'
      ? createReadStream(source, { start, highWaterMark: 1024 * 1024 })
      : source.createReadStream({ start, highWaterMark: 1024 * 1024, autoClose: false }),
    meter,
    async (s) => {
      for await (const _ of s) {
        // the meter hashes and counts; nothing else to do with the bytes
      }
    },
  );
  meter.finish();
  return { sha256: hash.copy().digest('hex'), size: meter.bytes, hash };
}

async function copyLocalFile(
  location: FileLocation,
  destPath: string,
  options: FetchOptions,
): Promise<DownloadResult> {
  const maxBytes = options.maxBytes ?? DEFAULT_DOWNLOAD_MAX;
  const { handle, size } = await openLocalFile(location, options.localRoots);
  try {
    if (size > maxBytes) throw tooLargeError(location, maxBytes);
    const hash = createHash('sha256');
    const meter = new Meter(
      0,
      size,
      1,
      options.onProgress,
      options.progressIntervalMs ?? 250,
      maxBytes,
      location,
      hash,
    );
    try {
      await pipeline(
        handle.createReadStream({ start: 0, highWaterMark: 1024 * 1024, autoClose: false }),
        meter,
        createWriteStream(destPath),
        ...(options.signal ? [{ signal: options.signal }] : []),
      );
    } catch (cause) {
      if (options.signal?.aborted) throw abortedError(location, cause);
      if (cause instanceof HoistError) throw cause;
      throw new HoistError(
        HoistErrorCodes.IO,
        `cannot copy ${location.display} to ${destPath}: ${describeError(cause)}`,
        { cause },
      );
    }
    meter.finish();
    return {
      path: destPath,
      sha256: hash.digest('hex'),
      size: meter.bytes,
      attempts: 1,
      resumed: false,
    };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** One HTTP(S) transfer with retries and Range resumption. */
class HttpDownload {
  private readonly logger: Logger;
  private readonly retries: number;
  private readonly maxBytes: number;
  private attempts = 0;
  private resumed = false;
  private hash: Hash = createHash('sha256');

  constructor(
    private readonly location: Extract<ResolvedLocation, { kind: 'http' }>,
    private readonly destPath: string | undefined,
    private readonly options: FetchOptions,
    private readonly memory?: Buffer[],
  ) {
    this.logger = options.logger ?? silentLogger;
    this.retries = options.retries ?? 5;
    this.maxBytes = options.maxBytes ?? DEFAULT_DOWNLOAD_MAX;
  }

  async run(): Promise<DownloadResult> {
    let offset = 0;
    let validator: string | undefined;
    let rangesAllowed = false;
    if (this.destPath !== undefined) await this.truncateTo(0);
    for (;;) {
      this.attempts++;
      try {
        const outcome = await this.attempt(offset, rangesAllowed ? validator : undefined);
        if (outcome.kind === 'done') {
          return {
            path: this.destPath ?? '',
            sha256: this.hash.digest('hex'),
            size: outcome.size,
            attempts: this.attempts,
            resumed: this.resumed,
          };
        }
        validator = outcome.validator ?? validator;
        rangesAllowed = outcome.rangesAllowed;
        throw outcome.error;
      } catch (error) {
        const failure = this.toHoistError(error);
        if (this.options.signal?.aborted) throw abortedError(this.location, error);
        if (!isRetryable(failure) || this.attempts > this.retries) throw failure;
        const delay = this.delayFor(failure);
        this.logger.warn(
          {
            location: this.location.display,
            attempt: this.attempts,
            retryInMs: delay,
            err: failure.message,
          },
          'artifact download failed; retrying',
        );
        try {
          await sleep(delay, undefined, { signal: this.options.signal });
        } catch (cause) {
          throw abortedError(this.location, cause);
        }
        // Continue from what is safely on disk (never from what was only hashed), or restart.
        if (this.destPath !== undefined && rangesAllowed) {
          const kept = (await stat(this.destPath)).size;
          const rehashed = await hashFile(this.destPath);
          offset = kept;
          this.hash = rehashed.hash;
        } else {
          offset = 0;
          this.hash = createHash('sha256');
          if (this.destPath !== undefined) await this.truncateTo(0);
          this.memory?.splice(0);
        }
      }
    }
  }

  private async attempt(
    offset: number,
    validator: string | undefined,
  ): Promise<
    | { kind: 'done'; size: number }
    | { kind: 'retry'; error: unknown; validator?: string; rangesAllowed: boolean }
  > {
    const headers: Record<string, string> = {
      'accept-encoding': 'identity',
      ...this.options.headers,
    };
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (validator !== undefined) headers['if-range'] = validator;
    }
    const timeouts = this.options.timeouts ?? {};
    let refused: string | undefined;
    const request = got.stream(this.location.url, {
      headers,
      throwHttpErrors: false,
      decompress: false,
      retry: { limit: 0 },
      // Only to http(s), and never from https down to http: a redirect must not turn a download
      // into a local file read or strip its transport security.
      followRedirect: (redirect) => {
        refused = refusedRedirect(redirect.url, redirect.headers.location);
        return refused === undefined;
      },
      maxRedirects: 10,
      timeout: {
        connect: timeouts.connectMs ?? 30_000,
        secureConnect: timeouts.connectMs ?? 30_000,
        response: timeouts.responseMs ?? 30_000,
        socket: timeouts.idleMs ?? 60_000,
        ...(timeouts.totalMs === undefined ? {} : { request: timeouts.totalMs }),
      },
      ...(this.options.ca === undefined && this.options.cert === undefined
        ? {}
        : {
            https: {
              ...(this.options.ca === undefined ? {} : { certificateAuthority: this.options.ca }),
              ...(this.options.cert === undefined
                ? {}
                : { certificate: this.options.cert, key: this.options.key }),
            },
          }),
      ...(this.options.signal === undefined ? {} : { signal: this.options.signal }),
    });
    const response = await new Promise<Response>((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', reject);
    });
    const status = response.statusCode;
    const etag = response.headers.etag;
    const nextValidator =
      etag !== undefined && !etag.startsWith('W/')
        ? etag
        : (response.headers['last-modified'] ?? undefined);
    const rangesAllowed = response.headers['accept-ranges'] === 'bytes' || status === 206;
    let start = 0;
    if (status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers['content-range'] ?? '');
      start = range === null ? -1 : Number(range[1]);
      if (start !== offset) {
        request.destroy();
        return {
          kind: 'retry',
          error: new HoistError(
            HoistErrorCodes.FETCH_FAILED,
            `server answered range request for ${this.location.display} from byte ${offset} with ${response.headers['content-range'] ?? 'no Content-Range'}`,
            { details: { retryable: true } },
          ),
          rangesAllowed: false,
        };
      }
      this.resumed = true;
    } else if (status >= 200 && status < 300) {
      if (offset > 0) {
        // The server ignored Range (or the validator changed): start over.
        this.hash = createHash('sha256');
        if (this.destPath !== undefined) await this.truncateTo(0);
        this.memory?.splice(0);
      }
    } else {
      request.destroy();
      if (refused !== undefined) {
        throw new HoistError(
          HoistErrorCodes.FETCH_REDIRECT_REFUSED,
          `${this.location.display} redirected to ${refused}; refused`,
          {
            hint: 'redirects are followed only to http(s), and never from https to plain http',
            details: { status },
          },
        );
      }
      if (status === 416 && offset > 0) {
        return {
          kind: 'retry',
          error: new HoistError(
            HoistErrorCodes.FETCH_FAILED,
            `${this.location.display} refused to resume at byte ${offset} (416)`,
            { details: { retryable: true } },
          ),
          rangesAllowed: false,
        };
      }
      throw statusError(this.location, status, response.headers['retry-after']);
    }
    const length = Number(response.headers['content-length'] ?? Number.NaN);
    const total = Number.isFinite(length) ? start + length : undefined;
    if (total !== undefined && total > this.maxBytes) {
      request.destroy();
      throw tooLargeError(this.location, this.maxBytes);
    }
    const meter = new Meter(
      start,
      total,
      this.attempts,
      this.options.onProgress,
      this.options.progressIntervalMs ?? 250,
      this.maxBytes,
      this.location,
      this.hash,
    );
    try {
      if (this.destPath !== undefined) {
        await pipeline(
          request,
          meter,
          createWriteStream(this.destPath, { flags: start > 0 ? 'r+' : 'w', start }),
        );
      } else {
        const memory = this.memory ?? [];
        await pipeline(request, meter, async (source) => {
          for await (const chunk of source) memory.push(chunk as Buffer);
        });
      }
    } catch (error) {
      if (error instanceof HoistError) throw error;
      return {
        kind: 'retry',
        error,
        ...(nextValidator ? { validator: nextValidator } : {}),
        rangesAllowed,
      };
    }
    if (total !== undefined && meter.bytes < total) {
      return {
        kind: 'retry',
        error: new HoistError(
          HoistErrorCodes.FETCH_FAILED,
          `download of ${this.location.display} stopped at ${meter.bytes} of ${total} bytes`,
          { details: { retryable: true } },
        ),
        ...(nextValidator ? { validator: nextValidator } : {}),
        rangesAllowed,
      };
    }
    meter.finish();
    return { kind: 'done', size: meter.bytes };
  }

  private async truncateTo(size: number): Promise<void> {
    if (this.destPath === undefined) return;
    try {
      if (size === 0) await (await open(this.destPath, 'w')).close();
      else await truncate(this.destPath, size);
    } catch (cause) {
      throw new HoistError(
        HoistErrorCodes.IO,
        `cannot write download file ${this.destPath}: ${describeError(cause)}`,
        { cause },
      );
    }
  }

  private delayFor(error: HoistError): number {
    const base = this.options.backoffMs ?? 500;
    const cap = this.options.maxBackoffMs ?? 30_000;
    const retryAfter = error.details.retryAfterMs;
    if (typeof retryAfter === 'number' && retryAfter >= 0) return Math.min(retryAfter, cap);
    const exponential = Math.min(cap, base * 2 ** (this.attempts - 1));
    return Math.round(exponential * (0.5 + Math.random() / 2));
  }

  private toHoistError(error: unknown): HoistError {
    if (error instanceof HoistError) return error;
    const code =
      typeof error === 'object' && error !== null && 'code' in error
        ? String((error as { code: unknown }).code)
        : '';
    const name = error instanceof Error ? error.name : '';
    const retryable =
      RETRYABLE_ERRNO.includes(code) ||
      name === 'TimeoutError' ||
      name === 'ReadError' ||
      code === 'ERR_GOT_REQUEST_ERROR' ||
      /socket hang up|premature close|aborted/i.test(describeError(error));
    const tls = /CERT|SSL|TLS|self.signed|unable to verify/i.test(
      `${code} ${describeError(error)}`,
    );
    return new HoistError(
      HoistErrorCodes.FETCH_FAILED,
      `cannot download ${this.location.display}: ${describeError(error)}${code ? ` (${code})` : ''}`,
      {
        cause: error,
        details: { retryable: retryable && !tls, attempts: this.attempts },
        ...(tls
          ? {
              hint: /alert (certificate required|bad certificate|unknown ca)/i.test(
                describeError(error),
              )
                ? 'the server requires a client certificate it trusts; pass one with the `cert` and `key` options'
                : 'the server certificate is not trusted; pass its CA with the `ca` option',
            }
          : { hint: 'check that the artifact server is reachable from this host' }),
      },
    );
  }
}

/** Counts, hashes and reports bytes as they pass. */
class Meter extends Transform {
  bytes: number;
  private attemptBytes = 0;
  private readonly started = performance.now();
  private lastReport = 0;

  constructor(
    start: number,
    private readonly total: number | undefined,
    private readonly attempt: number,
    private readonly onProgress: ((progress: DownloadProgress) => void) | undefined,
    private readonly intervalMs: number,
    private readonly maxBytes: number,
    private readonly location: ResolvedLocation | undefined,
    private readonly hash: Hash,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.bytes = start;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.attemptBytes += chunk.length;
    if (this.bytes > this.maxBytes && this.location !== undefined) {
      callback(tooLargeError(this.location, this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    if (this.onProgress !== undefined) {
      const now = performance.now();
      if (now - this.lastReport >= this.intervalMs) {
        this.lastReport = now;
        this.report(false);
      }
    }
    callback(null, chunk);
  }

  finish(): void {
    this.report(true);
  }

  private report(done: boolean): void {
    if (this.onProgress === undefined) return;
    const seconds = Math.max((performance.now() - this.started) / 1000, 0.001);
    this.onProgress({
      bytes: this.bytes,
      total: this.total ?? (done ? this.bytes : undefined),
      bytesPerSecond: Math.round(this.attemptBytes / seconds),
      attempt: this.attempt,
      done,
    });
  }
}

/**
 * Why a redirect from `from` to the `Location` header is not followed, or undefined when it may
 * be: the target must be http(s), and an https request stays https.
 */
function refusedRedirect(from: string, location: string | undefined): string | undefined {
  let target: URL;
  try {
    target = new URL(location ?? '', from);
  } catch {
    return 'an invalid URL';
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    return `a ${JSON.stringify(target.protocol.slice(0, 16))} URL`;
  if (from.startsWith('https:') && target.protocol === 'http:')
    return `plain http (${redactUrl(target)})`;
  return undefined;
}

function isRetryable(error: HoistError): boolean {
  return error.details.retryable === true;
}

function statusError(
  location: ResolvedLocation,
  status: number,
  retryAfter: string | undefined,
): HoistError {
  if (status === 404 || status === 410) {
    return new HoistError(
      HoistErrorCodes.ARTIFACT_NOT_FOUND,
      `artifact ${location.display} does not exist (HTTP ${status})`,
      {
        hint: 'check the launchable `location` and that the artifact was uploaded',
        details: { status },
      },
    );
  }
  const retryable = RETRYABLE_STATUS.has(status);
  return new HoistError(
    retryable ? HoistErrorCodes.FETCH_FAILED : HoistErrorCodes.FETCH_HTTP_STATUS,
    `GET ${location.display} answered HTTP ${status}`,
    {
      details: {
        status,
        retryable,
        ...(retryAfter === undefined ? {} : { retryAfterMs: parseRetryAfter(retryAfter) }),
      },
      ...(status === 401 || status === 403
        ? { hint: 'the artifact server refused the credentials; check the URL or `headers`' }
        : {}),
    },
  );
}

function parseRetryAfter(value: string): number {
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? -1 : Math.max(0, date - Date.now());
}

function tooLargeError(location: ResolvedLocation, maxBytes: number): HoistError {
  return new HoistError(
    HoistErrorCodes.FETCH_TOO_LARGE,
    `${location.display} is larger than the ${maxBytes}-byte limit`,
    { details: { limit: maxBytes } },
  );
}

function abortedError(location: ResolvedLocation, cause: unknown): HoistError {
  return new HoistError(HoistErrorCodes.ABORTED, `download of ${location.display} was aborted`, {
    cause,
  });
}
