/** Selecting a backend from a URL-like string. */
import { ConsulStore, type ConsulStoreOptions } from './consul.js';
import { KvError, KvErrorCodes } from './errors.js';
import { EtcdStore, etcdOptionsFromUrl } from './etcd.js';
import type { Store } from './types.js';

/** Options any backend may use; each ignores what it does not need. */
export interface StoreOptions {
  /** ACL token (Consul) — overrides `?token=` in the URL. */
  token?: string;
  /** PEM CA file for TLS — overrides `?ca=` in the URL. */
  tlsCaFile?: string;
  /** PEM client certificate for mTLS — overrides `?cert=` in the URL. */
  tlsCertFile?: string;
  /** PEM private key of `tlsCertFile` (mode 600) — overrides `?key=` in the URL. */
  tlsKeyFile?: string;
  /** Extra HTTP headers on every request (Consul; see `ConsulStoreOptions.headers`). Never shown. */
  headers?: Readonly<Record<string, string>>;
  /** Datacenter (Consul) — overrides `?dc=` in the URL. */
  datacenter?: string;
  /** Default blocking-query wait. @default 30_000 */
  waitMs?: number;
  /** Consul: most connections at once besides watches (see `ConsulStoreOptions.maxConnections`). */
  maxConnections?: number;
  /** Consul: idle connections kept besides watches (see `ConsulStoreOptions.maxIdleConnections`). */
  maxIdleConnections?: number;
  /** Consul: an idle connection closes after this long (see `ConsulStoreOptions.idleTimeoutMs`). */
  idleTimeoutMs?: number;
  logger?: ConsulStoreOptions['logger'];
}

/**
 * Builds a store for a parsed URL. Register one per scheme with {@link registerBackend}. `hosts`
 * lists every `host:port` of the authority (`etcd://h1:2379,h2:2379`); `url` holds the first.
 */
export type BackendFactory = (url: URL, options: StoreOptions, hosts: string[]) => Store;

const backends = new Map<string, BackendFactory>();

/**
 * Registers a backend for a URL scheme (without the colon). Built in: `consul`, `consul+http`,
 * `consul+https`, `http` and `https` (Consul, as Consul's CLI spells its address), `etcd` and `etcd+https` (several endpoints: `etcd://u:pw@h1:2379,h2:2379/prefix?ca=…`).
 */
export function registerBackend(scheme: string, factory: BackendFactory): void {
  backends.set(scheme, factory);
}

function consulFactory(https: boolean): BackendFactory {
  return (url, options) =>
    new ConsulStore({
      address: url.host || '127.0.0.1:8500',
      https,
      token: options.token ?? (url.searchParams.get('token') || undefined),
      tlsCaFile: options.tlsCaFile ?? (url.searchParams.get('ca') || undefined),
      tlsCertFile: options.tlsCertFile ?? (url.searchParams.get('cert') || undefined),
      tlsKeyFile: options.tlsKeyFile ?? (url.searchParams.get('key') || undefined),
      ...(options.headers ? { headers: options.headers } : {}),
      datacenter: options.datacenter ?? (url.searchParams.get('dc') || undefined),
      waitMs: options.waitMs,
      maxConnections: options.maxConnections,
      maxIdleConnections: options.maxIdleConnections,
      idleTimeoutMs: options.idleTimeoutMs,
      logger: options.logger,
    });
}

registerBackend('consul', consulFactory(false));
registerBackend('consul+http', consulFactory(false));
registerBackend('consul+https', consulFactory(true));
// Consul's own address spelling (`CONSUL_HTTP_ADDR=https://host:8501`): a Consul agent.
registerBackend('http', consulFactory(false));
registerBackend('https', consulFactory(true));

function etcdFactory(https: boolean): BackendFactory {
  return (url, options, hosts) => {
    if (options.headers && Object.keys(options.headers).length > 0)
      throw new KvError(
        KvErrorCodes.BAD_OPTIONS,
        'the etcd backend speaks gRPC and sends no extra HTTP headers',
        { hint: 'drop the extra headers (they are for Consul and p2-kv-server)' },
      );
    return new EtcdStore(etcdOptionsFromUrl(url, hosts, https, options));
  };
}

// etcd.ts loads `etcd3` (gRPC) only when a store is used, so this costs Consul users nothing.
registerBackend('etcd', etcdFactory(false));
registerBackend('etcd+https', etcdFactory(true));

/**
 * Opens a store from a URL-like string: `consul://127.0.0.1:8500`, `consul+https://host:8501?ca=/etc/ca.pem`,
 * `http://host:8500` / `https://host:8501` (Consul, as `CONSUL_HTTP_ADDR` spells it), or a bare `host:port` (Consul over HTTP, as P2's `--consul` flag).
 *
 * @throws KvError `P2_KV_UNSUPPORTED_BACKEND` for schemes without a backend,
 *   `P2_KV_BAD_OPTIONS` for unparseable strings.
 * @example
 * ```ts
 * const store = createStore('consul://127.0.0.1:8500', { token: process.env.CONSUL_HTTP_TOKEN });
 * ```
 */
export function createStore(location: string, options: StoreOptions = {}): Store {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location : `consul://${location}`;
  // A URL holds one host; keep the full comma-separated list aside and parse with the first.
  const authority = /^([^:]+:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/s.exec(withScheme);
  const hosts = (authority?.[3] ?? '').split(',').filter((h) => h !== '');
  let url: URL;
  try {
    url = new URL(
      authority && hosts.length > 1
        ? `${authority[1]}${authority[2] ?? ''}${hosts[0]}${authority[4]}`
        : withScheme,
    );
  } catch (cause) {
    throw new KvError(
      KvErrorCodes.BAD_OPTIONS,
      `cannot parse store location ${JSON.stringify(location)}`,
      {
        cause,
        hint: 'use consul://host:port or consul+https://host:port',
      },
    );
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const factory = backends.get(scheme);
  if (!factory) {
    throw new KvError(
      KvErrorCodes.UNSUPPORTED_BACKEND,
      `no store backend for ${scheme}:// (from ${JSON.stringify(location)}); known: ${[...backends.keys()].sort().join(', ')}`,
      {
        details: { scheme },
        hint: scheme.startsWith('etcd')
          ? 'use etcd://host:2379[,host:2379…] or etcd+https://…'
          : 'use consul://host:port or etcd://host:2379',
      },
    );
  }
  return factory(url, options, hosts);
}
