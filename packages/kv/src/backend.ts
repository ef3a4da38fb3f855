/** Selecting a backend from a URL-like string. */
import { ConsulStore, type ConsulStoreOptions } from './consul.js';
import { KvError, KvErrorCodes } from './errors.js';
import type { Store } from './types.js';

/** Options any backend may use; each ignores what it does not need. */
export interface StoreOptions {
  /** ACL token (Consul) — overrides `?token=` in the URL. */
  token?: string;
  /** PEM CA file for TLS — overrides `?ca=` in the URL. */
  tlsCaFile?: string;
  /** Datacenter (Consul) — overrides `?dc=` in the URL. */
  datacenter?: string;
  /** Default blocking-query wait. @default 30_000 */
  waitMs?: number;
  logger?: ConsulStoreOptions['logger'];
}

/** Builds a store for a parsed URL. Register one per scheme with {@link registerBackend}. */
export type BackendFactory = (url: URL, options: StoreOptions) => Store;

const backends = new Map<string, BackendFactory>();

/**
 * Registers a backend for a URL scheme (without the colon). The etcd backend will register `etcd`
 * and `etcd+https` here.
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
      datacenter: options.datacenter ?? (url.searchParams.get('dc') || undefined),
      waitMs: options.waitMs,
      logger: options.logger,
    });
}

registerBackend('consul', consulFactory(false));
registerBackend('consul+http', consulFactory(false));
registerBackend('consul+https', consulFactory(true));

/**
 * Opens a store from a URL-like string: `consul://127.0.0.1:8500`, `consul+https://host:8501?ca=/etc/ca.pem`,
 * or a bare `host:port` (Consul over HTTP, as P2's `--consul` flag).
 *
 * @throws KvError `P2_KV_UNSUPPORTED_BACKEND` for schemes without a backend (e.g. `etcd://` until the
 *   etcd backend lands), `P2_KV_BAD_OPTIONS` for unparseable strings.
 * @example
 * ```ts
 * const store = createStore('consul://127.0.0.1:8500', { token: process.env.CONSUL_HTTP_TOKEN });
 * ```
 */
export function createStore(location: string, options: StoreOptions = {}): Store {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location : `consul://${location}`;
  let url: URL;
  try {
    url = new URL(withScheme);
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
          ? 'the etcd backend is not part of this build yet; use consul:// (e.g. a p2-kv-server)'
          : 'use consul://host:port',
      },
    );
  }
  return factory(url, options);
}
