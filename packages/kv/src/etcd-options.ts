/** The etcd backend's options: defaults, endpoint checks, and the store URL form. */
import { hostname } from 'node:os';
import { redactCredentials } from '@p2/errors';
import type { IOptions } from 'etcd3';
import type { Logger } from 'pino';
import { KvError, KvErrorCodes } from './errors.js';
import { recentLoopLagMs } from './loop-lag.js';
import { clientTls } from './tls-files.js';

/** Options of {@link EtcdStore}. */
export interface EtcdStoreOptions {
  /** Client endpoints, `host:port` or `http(s)://host:port`. @default ['127.0.0.1:2379'] */
  endpoints?: string[];
  /** Use TLS for endpoints given without a scheme. @default false (true when `tlsCaFile` is set) */
  https?: boolean;
  /** PEM CA file that signed the etcd server certificates. */
  tlsCaFile?: string;
  /** PEM client certificate (etcd `--client-cert-auth`); goes with `tlsKeyFile`. */
  tlsCertFile?: string;
  /** PEM private key of `tlsCertFile`; refused if group or others may read it. */
  tlsKeyFile?: string;
  /** etcd user (auth enabled). Never logged. */
  username?: string;
  /** Password of `username`. Never logged. */
  password?: string;
  /** Root prefix for every key this store writes, e.g. `p2/`. @default '' */
  prefix?: string;
  /** Default blocking-query wait. @default 30_000 */
  waitMs?: number;
  /** Shortest session TTL accepted (etcd grants ≥ 2 s). @default 10_000 (Consul's minimum) */
  minSessionTtlMs?: number;
  /** How long tombstones keep prefix indexes from going back. @default 900_000 (Consul's 15 min) */
  tombstoneTtlMs?: number;
  /** Node name reported in session info. @default os.hostname() */
  node?: string;
  /** Connect timeout per endpoint. @default 5_000 */
  dialTimeoutMs?: number;
  /**
   * Deadline of one unary etcd call, retries on other members included (watches excepted), so a
   * frozen member cannot hang a caller. @default 15_000
   */
  requestTimeoutMs?: number;
  /**
   * Deadline of the first attempt of a unary call; each retry (on another member) doubles it, up to
   * `requestTimeoutMs`. A write sent to a member just before its leader died is lost inside etcd and
   * only answered after etcd's own request timeout (5 s + 2 election timeouts); this bound is what
   * moves it to a live member sooner. Both bounds add this process's event-loop lag of the last
   * 5–10 s: a client too busy to read its sockets in time does not blame the member. @default 1_000
   */
  attemptTimeoutMs?: number;
  /**
   * gRPC keepalive ping interval on connections with calls in flight: how soon a member that
   * vanished without closing its connections is noticed (this + 2 s). Lower it only together with
   * the members' `--grpc-keepalive-min-time`. @default 10_000
   */
  keepaliveMs?: number;
  logger?: Logger;
}

/** {@link EtcdStoreOptions} with defaults applied and the `etcd3` client options built. */
export interface ResolvedEtcdOptions {
  /** Without `faultHandling`, which needs `cockatiel` (loaded with `etcd3`, see {@link faultHandling}). */
  clientOptions: IOptions;
  /** Root prefix of every key. */
  root: string;
  /** The store's address for messages (no credentials). */
  description: string;
  waitMs: number;
  minSessionTtlMs: number;
  tombstoneTtlMs: number;
  attemptTimeoutMs: number;
  requestTimeoutMs: number;
  node: string;
  logger: Logger | undefined;
}

/**
 * gRPC channel settings for failover. A member that dies on a live host (crash, SIGKILL, restart)
 * resets its connections and is noticed at once; one that vanishes without a word (a partition, a
 * host that lost power) is noticed by keepalive pings on connections with calls in flight (a blocked
 * read's watch stream): a ping every `keepaliveMs`, dead after 2 s without the answer. etcd answers
 * pings more often than its `--grpc-keepalive-min-time` (5 s) with GOAWAY, so the default stays
 * well above it. Reconnects to a member that came back are tried at most 2 s apart (gRPC's default
 * backoff grows to 120 s).
 */
function grpcOptions(keepaliveMs: number): NonNullable<IOptions['grpcOptions']> {
  return {
    'grpc.keepalive_time_ms': keepaliveMs,
    'grpc.keepalive_timeout_ms': 2_000,
    'grpc.keepalive_permit_without_calls': 0,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2_000,
  };
}

/**
 * Per-attempt deadlines for unary calls: `etcd3` retries a call on another member when an attempt
 * fails with a recoverable error (deadline exceeded among them), and asks for call options on every
 * attempt with the same request object. An attempt gets `firstMs`, doubled for every earlier attempt
 * of the call that ran into its deadline (a slow answer, not a lost one, still gets through), and
 * all attempts together end `totalMs` after the first.
 *
 * Every deadline also adds this process's recent event-loop lag ({@link recentLoopLagMs}): a
 * lagging client runs its expired timers before it reads its sockets, so an answer that came in
 * time lost to the deadline; the attempt was cancelled, the member marked failed in the circuit
 * breaker, and the retries of every lagging call piled more work on the loop (the fleet bench's
 * spiral, docs/scaling.md). A member is given `firstMs` of its own time, not of ours.
 * @internal
 */
export function attemptDeadlines(
  firstMs: number,
  totalMs: number,
  lagMs: () => number = recentLoopLagMs,
): IOptions['defaultCallOptions'] {
  const calls = new WeakMap<object, { at: number; timeouts: number; deadline: number }>();
  return (context) => {
    if (context.isStream) return {};
    const now = Date.now();
    const params = 'params' in context ? (context.params as unknown) : undefined;
    const request = typeof params === 'object' && params !== null ? params : {};
    const last = calls.get(request);
    const at = last?.at ?? now;
    const timeouts = (last?.timeouts ?? 0) + (last && now >= last.deadline ? 1 : 0);
    const lag = lagMs();
    const deadline = Math.max(
      now + 1,
      Math.min(at + totalMs + lag, now + firstMs * 2 ** timeouts + lag),
    );
    calls.set(request, { at, timeouts, deadline });
    return { deadline };
  };
}

/**
 * `etcd3`'s fault handling for failover (the defaults keep a member's circuit open 5 s after three
 * failures, retry at once 3 times, and back watch reconnects off up to 30 s): retry a failed call on
 * the next member after 25 ms, doubling to 500 ms, 10 times (about 3.3 s of retrying, longer than an
 * election), also when every member's circuit is open; skip a member for 1 s after one failure (a
 * failed watch stream counts: that is what moves the watch reconnect off a dead member); reconnect
 * the watch stream after 50 ms, doubling to 1 s.
 */
export function faultHandling(
  cockatiel: typeof import('cockatiel'),
  isRecoverableError: (error: Error) => boolean,
): IOptions['faultHandling'] {
  const { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } = cockatiel;
  const recoverable = handleWhen(isRecoverableError);
  // Every member's circuit open (all failed during an election) is worth waiting out, too.
  const retryable = handleWhen((e) => isRecoverableError(e) || cockatiel.isBrokenCircuitError(e));
  return {
    host: () =>
      circuitBreaker(recoverable, { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(1) }),
    global: retry(retryable, {
      maxAttempts: 10,
      backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 500 }),
    }),
    // etcd3 calls `.next()` on this for the first delay: it wants the factory, typed as a backoff.
    watchBackoff: new ExponentialBackoff({
      initialDelay: 10,
      maxDelay: 250,
    }) as unknown as NonNullable<IOptions['faultHandling']>['watchBackoff'],
  };
}

/**
 * Applies defaults and checks the endpoints and CA file.
 *
 * @throws KvError `P2_KV_BAD_OPTIONS` (an endpoint that is not host:port, an unreadable CA file).
 */
export function resolveEtcdOptions(options: EtcdStoreOptions): ResolvedEtcdOptions {
  const endpoints = options.endpoints?.length ? options.endpoints : ['127.0.0.1:2379'];
  const secure =
    options.https === true || options.tlsCaFile !== undefined || options.tlsCertFile !== undefined;
  const hosts = endpoints.map((endpoint) => {
    if (/^https?:\/\//.test(endpoint)) return endpoint;
    if (!/^(\[[^\]]+\]|[^:/\s]+)(:\d+)?$/.test(endpoint)) {
      throw new KvError(
        KvErrorCodes.BAD_OPTIONS,
        `etcd endpoint must be host:port, got ${JSON.stringify(redactCredentials(endpoint))}`,
        { hint: 'e.g. etcd://10.0.0.1:2379,10.0.0.2:2379' },
      );
    }
    return `${secure ? 'https' : 'http'}://${/:\d+$/.test(endpoint) ? endpoint : `${endpoint}:2379`}`;
  });
  // Read and checked as the Consul backend does: the CA decides which server gets our token, so a
  // file another user could write is refused (and the key must be private, the pair matching).
  const client = clientTls(options.tlsCaFile, options.tlsCertFile, options.tlsKeyFile);
  const rootCertificate = client.ca;
  const credentials =
    client.cert && client.key
      ? // etcd3 hands these to grpc's createSsl, where no root certificate means the system roots.
        {
          rootCertificate: rootCertificate as Buffer,
          certChain: client.cert,
          privateKey: client.key,
        }
      : rootCertificate
        ? { rootCertificate }
        : undefined;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 1_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  const clientOptions: IOptions = {
    hosts,
    dialTimeout: options.dialTimeoutMs ?? 5_000,
    defaultCallOptions: attemptDeadlines(attemptTimeoutMs, requestTimeoutMs),
    grpcOptions: grpcOptions(options.keepaliveMs ?? 10_000),
    ...(credentials ? { credentials } : {}),
    ...(options.username !== undefined
      ? { auth: { username: options.username, password: options.password ?? '' } }
      : {}),
  };
  const root = options.prefix ?? '';
  const description = `etcd${secure ? '+https' : ''}://${endpoints
    .map((e) => e.replace(/^https?:\/\//, ''))
    .join(',')}${root ? `/${root}` : ''}`;
  return {
    clientOptions,
    root,
    description,
    waitMs: options.waitMs ?? 30_000,
    minSessionTtlMs: options.minSessionTtlMs ?? 10_000,
    tombstoneTtlMs: options.tombstoneTtlMs ?? 900_000,
    attemptTimeoutMs,
    requestTimeoutMs,
    node: options.node ?? hostname(),
    logger: options.logger,
  };
}

/** Builds {@link EtcdStoreOptions} from a store URL (`etcd://user:pw@h1:2379,h2:2379/prefix?ca=`). @internal */
export function etcdOptionsFromUrl(
  url: URL,
  hosts: string[],
  https: boolean,
  extra: {
    tlsCaFile?: string;
    tlsCertFile?: string;
    tlsKeyFile?: string;
    waitMs?: number;
    logger?: Logger;
  },
): EtcdStoreOptions {
  const path = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  const minTtl = url.searchParams.get('minSessionTtlMs');
  return {
    endpoints: hosts.length > 0 ? hosts : ['127.0.0.1:2379'],
    https,
    tlsCaFile: extra.tlsCaFile ?? (url.searchParams.get('ca') || undefined),
    tlsCertFile: extra.tlsCertFile ?? (url.searchParams.get('cert') || undefined),
    tlsKeyFile: extra.tlsKeyFile ?? (url.searchParams.get('key') || undefined),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    prefix: path === '' || path.endsWith('/') ? path : `${path}/`,
    minSessionTtlMs: minTtl ? Number(minTtl) : undefined,
    waitMs: extra.waitMs,
    logger: extra.logger,
  };
}
