/** `startKvServer`: the data directory, the durable state, the listener; routes live in `router.ts`. */
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { ServerContext } from './context.js';
import { claimDataDir, releaseDataDir } from './data-dir.js';
import { Engine } from './engine.js';
import { KvServerError, KvServerErrorCodes } from './errors.js';
import { DurableLog, type Recovery } from './log.js';
import { requestHandler, sha256 } from './router.js';
import { State } from './state.js';

/** Options of {@link startKvServer}. */
export interface KvServerOptions {
  /** Directory holding the log and snapshots; created if missing. One server per directory. */
  dataDir: string;
  /** TCP port; 0 picks a free one. @default 8500 */
  port?: number;
  /** Address to listen on. @default '127.0.0.1' (loopback only) */
  host?: string;
  /**
   * When set, every request except `/v1/status/*` must carry this token (`X-Consul-Token`,
   * `Authorization: Bearer`, `?token=`), else 403 with a hint.
   */
  aclToken?: string;
  /**
   * The same as `aclToken`, given only as the token's SHA-256 (64 hex digits), so that whoever
   * configures the server (a pod manifest, its env) never holds the token itself. Ignored when
   * `aclToken` is set.
   */
  aclTokenSha256?: string;
  /** pino logger. @default silent */
  logger?: Logger;
  /** The node name sessions are registered on. @default os.hostname() */
  nodeName?: string;
  /** Datacenter name; a request with another `?dc=` fails like Consul ("No path to datacenter"). @default 'dc1' */
  datacenter?: string;
  /** Consul's `session_ttl_min`. Lower it in tests to see TTL expiry quickly. @default 10_000 */
  sessionTtlMinMs?: number;
  /** How long tombstones live before they are reaped. @default 900_000 (15 min) */
  tombstoneTtlMs?: number;
  /** Log size that triggers a snapshot + truncation. @default 64 MiB */
  compactBytes?: number;
  /** Consul's `kv_max_value_size`. @default 524288 */
  maxValueSize?: number;
  /** Maximum operations in one `/v1/txn` (Consul ≥ 1.14: 128). @default 128 */
  txnMaxOps?: number;
  /**
   * Blocking queries one client (remote address) may hold at once; one more is answered 429. In
   * Consul each blocking query holds a connection, capped by `limits.http_max_conns_per_client`.
   * @default 200
   */
  maxBlockingPerClient?: number;
  /**
   * Serve HTTPS with this certificate and key (PEM). Clients that pin the certificate (or its CA)
   * can tell this server from any process that took its port while it was down — which on a
   * shared host otherwise receives their ACL token. With `clientCa` (PEM), only clients presenting
   * a certificate that CA signed get past the handshake (mTLS). @default plain HTTP
   */
  tls?: { cert: string | Buffer; key: string | Buffer; clientCa?: string | Buffer };
}

/** A running server. */
export interface KvServer {
  /** `http://host:port` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** What the start found on disk: snapshot, replayed log records, a dropped torn tail. */
  readonly recovery: Recovery;
  /** Reaps tombstones older than `olderThanMs` now (they are reaped periodically anyway). */
  reapTombstones(olderThanMs?: number): Promise<void>;
  /** Stops listening, ends blocked queries, writes a snapshot and releases the data directory. */
  close(): Promise<void>;
}

/**
 * Starts a single-node server speaking the part of Consul's HTTP API that p2 uses, durable on disk.
 * It is **not** Consul: see the README for what is modelled.
 *
 * @throws KvServerError `P2_KV_SERVER_DATA_DIR` (directory unusable or in use by another server),
 *   `P2_KV_SERVER_DATA_CORRUPT` (unreadable log/snapshot), `P2_KV_SERVER_LISTEN` (port in use),
 *   `P2_KV_SERVER_BAD_OPTIONS`.
 * @example
 * ```ts
 * const server = await startKvServer({ dataDir: '/var/lib/p2-kv', port: 0 });
 * await fetch(`${server.url}/v1/kv/hello`, { method: 'PUT', body: 'world' }); // → true
 * await server.close();
 * ```
 */
export async function startKvServer(options: KvServerOptions): Promise<KvServer> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const host = options.host ?? '127.0.0.1';
  const nodeName = options.nodeName ?? hostname();
  const datacenter = options.datacenter ?? 'dc1';
  const sessionTtlMinMs = options.sessionTtlMinMs ?? 10_000;
  const tombstoneTtlMs = options.tombstoneTtlMs ?? 15 * 60_000;
  const maxValueSize = options.maxValueSize ?? 512 * 1024;
  const txnMaxOps = options.txnMaxOps ?? 128;
  const maxBlockingPerClient = options.maxBlockingPerClient ?? 4096;
  if (!Number.isInteger(maxBlockingPerClient) || maxBlockingPerClient < 1) {
    throw new KvServerError(
      KvServerErrorCodes.BAD_OPTIONS,
      `maxBlockingPerClient must be a positive integer, got ${maxBlockingPerClient}`,
      { hint: 'pass a whole number, e.g. --max-blocking-per-client 4096 (the default)' },
    );
  }
  if (!options.dataDir) {
    throw new KvServerError(KvServerErrorCodes.BAD_OPTIONS, 'dataDir is required', {
      hint: 'pass --data-dir /var/lib/p2-kv (any directory this user may write)',
    });
  }
  if (
    options.aclToken === undefined &&
    options.aclTokenSha256 !== undefined &&
    !/^[0-9a-f]{64}$/i.test(options.aclTokenSha256)
  ) {
    throw new KvServerError(
      KvServerErrorCodes.BAD_OPTIONS,
      `aclTokenSha256 must be 64 hex digits (a SHA-256), got ${options.aclTokenSha256.length} characters`,
      { hint: 'compute it with: printf %s "$(cat TOKEN_FILE)" | sha256sum' },
    );
  }
  if (options.aclToken === '') {
    throw new KvServerError(KvServerErrorCodes.BAD_OPTIONS, 'aclToken is empty', {
      hint: 'pass a non-empty token, or none to run without ACLs',
    });
  }
  // Only the token's digest is kept: requests are checked by hashing what they send, which also
  // makes the comparison constant-length.
  const aclDigest =
    options.aclToken !== undefined
      ? sha256(options.aclToken)
      : options.aclTokenSha256 !== undefined
        ? Buffer.from(options.aclTokenSha256, 'hex')
        : undefined;

  const state = new State();
  const log = new DurableLog(options.dataDir, state, options.compactBytes ?? 64 * 1024 * 1024);
  const lockFile = join(options.dataDir, 'LOCK');
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 }).catch((cause: unknown) => {
    throw new KvServerError(
      KvServerErrorCodes.DATA_DIR,
      `cannot create data directory ${options.dataDir}`,
      {
        cause,
        hint: 'check the path and its permissions, or pass another --data-dir',
      },
    );
  });
  claimDataDir(lockFile);
  const recovery = await log.open().catch((error: unknown) => {
    releaseDataDir(lockFile);
    throw error;
  });
  if (recovery.tornBytes > 0) {
    logger.warn(
      { ...recovery, dataDir: options.dataDir },
      `recovered ${recovery.replayed} log records; dropped a torn tail of ${recovery.tornBytes} bytes at offset ${recovery.logBytes} (a write cut short by a crash or a full disk: never acknowledged)`,
    );
  }
  logger.info(
    { ...recovery, dataDir: options.dataDir },
    `recovered ${recovery.snapshotKeys} keys from the snapshot (index ${recovery.snapshotIndex}) and ${recovery.replayed} log records; index ${recovery.index}`,
  );

  const engine = new Engine(state, log, logger, tombstoneTtlMs, maxBlockingPerClient);
  const ctx: ServerContext = {
    state,
    engine,
    host,
    port: 0,
    nodeName,
    datacenter,
    sessionTtlMinMs,
    maxValueSize,
    txnMaxOps,
    aclDigest,
  };
  let closing = false;
  const handler = requestHandler(ctx, logger);
  const server: Server = options.tls
    ? createHttpsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          ...(options.tls.clientCa === undefined
            ? {}
            : { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true }),
        },
        handler,
      )
    : createServer(handler);
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 70_000;
  server.requestTimeout = 0;

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (cause: NodeJS.ErrnoException) => {
      reject(
        new KvServerError(
          KvServerErrorCodes.LISTEN,
          `cannot listen on ${host}:${options.port ?? 8500}: ${cause.code}`,
          {
            cause,
            hint:
              cause.code === 'EADDRINUSE'
                ? 'another process uses this port; pick another with --port'
                : undefined,
          },
        ),
      );
    });
    server.listen(options.port ?? 8500, host, () =>
      resolve((server.address() as AddressInfo).port),
    );
  }).catch(async (error: unknown) => {
    engine.stop();
    await log.close();
    releaseDataDir(lockFile);
    throw error;
  });
  ctx.port = port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  logger.info(
    { host, port, dataDir: options.dataDir, replayed: recovery.replayed, index: state.index },
    'p2-kv-server listening',
  );

  return {
    url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    host,
    port,
    recovery,
    reapTombstones: (olderThanMs) => engine.reapTombstones(olderThanMs),
    async close() {
      if (closing) return;
      closing = true;
      server.close();
      server.closeAllConnections();
      engine.stop();
      try {
        if (engine.diskError === undefined) await log.checkpoint();
      } catch (error) {
        logger.warn(
          { err: error },
          'snapshot on close failed; the log still holds every acknowledged write',
        );
      } finally {
        await log.close().catch(() => undefined);
        releaseDataDir(lockFile);
      }
    },
  };
}
