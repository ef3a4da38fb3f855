/** The etcd backend's options: defaults, endpoint checks, and the store URL form. */
import { hostname } from 'node:os';
import { redactCredentials } from '@p2/errors';
import type { IOptions } from 'etcd3';
import type { Logger } from 'pino';
import { KvError, KvErrorCodes } from './errors.js';
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
  /** Deadline of every unary etcd call (watches excepted), so a frozen member cannot hang a caller. @default 15_000 */
  requestTimeoutMs?: number;
  logger?: Logger;
}

/** {@link EtcdStoreOptions} with defaults applied and the `etcd3` client options built. */
export interface ResolvedEtcdOptions {
  clientOptions: IOptions;
  /** Root prefix of every key. */
  root: string;
  /** The store's address for messages (no credentials). */
  description: string;
  waitMs: number;
  minSessionTtlMs: number;
  tombstoneTtlMs: number;
  node: string;
  logger: Logger | undefined;
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
  const clientOptions: IOptions = {
    hosts,
    dialTimeout: options.dialTimeoutMs ?? 5_000,
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + (options.requestTimeoutMs ?? 15_000) },
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
