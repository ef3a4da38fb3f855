/**
 * The store flags (spec 03 §0.3: `--store`/`P2_STORE`, `--token`/`CONSUL_HTTP_TOKEN`, then p2's
 * token file) and opening the store with them.
 */
import { hostname } from 'node:os';
import type { Command, OptionValues } from '@commander-js/extra-typings';
import {
  createStore,
  DEFAULT_TOKEN_FILE,
  defaultStoreUrl,
  explainDenied,
  findStoreToken,
  readTokenFile,
  type Store,
  type StoreOptions,
  type StoreToken,
  TOKEN_FILE_ENV,
} from '@p2/kv';
import type { CliContext } from './run.js';

/** The store without `--store`/`P2_STORE`: the local embedded store (HTTPS when bootstrapped). */
const DEFAULT_STORE = 'consul://127.0.0.1:8500 (consul+https with /etc/p2/tls/kv.pem when present)';

/** The options {@link withStoreFlags} adds. */
export interface StoreFlags {
  store?: string;
  token?: string;
}

/**
 * Adds `--store`, `--token` to a command.
 *
 * @example withStoreFlags(program.command('kv').command('get')).action(…)
 */
export function withStoreFlags<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(command: Command<Args, Opts, Globals>) {
  return command
    .option('--store <url>', `store URL (env P2_STORE; default ${DEFAULT_STORE})`)
    .option(
      '--token <token>',
      `ACL token (env CONSUL_HTTP_TOKEN; else read from ${TOKEN_FILE_ENV} or ${DEFAULT_TOKEN_FILE})`,
    );
}

/** How to reach the store beyond `--store` and `--token` (P2's store flags, say). */
export interface StoreConnection {
  /** TLS files and the blocking-query wait for `createStore`. */
  options?: Omit<StoreOptions, 'token' | 'logger'>;
  /** Without `--token`: the ACL token is this file's content, trimmed (P2's `--token-file`). */
  tokenFile?: string;
}

/**
 * Opens the store, runs `fn`, and always closes it. The store is `--store`, else `P2_STORE`, else
 * the local kv-server. The ACL token is `--token`, else `connection.tokenFile`'s, else
 * `CONSUL_HTTP_TOKEN`, else the token file `p2-bootstrap` wrote (`P2_TOKEN_FILE`, else
 * `/etc/p2/consul.token`; readable by root only).
 *
 * @throws KvError `P2_KV_PERMISSION_DENIED` for a 403, saying which token was sent and where p2
 *   looked; `P2_KV_TOKEN_FILE_UNSAFE` for a token file p2 must not trust (a symlink, not a regular
 *   file); `P2_KV_TOKEN_FILE_UNREADABLE` when `connection.tokenFile` cannot be read.
 * @example const value = await withStore(ctx, options, (store) => store.get('intent/h1/web'))
 */
export async function withStore<T>(
  ctx: CliContext,
  flags: StoreFlags,
  fn: (store: Store) => Promise<T>,
  connection: StoreConnection = {},
): Promise<T> {
  const found: StoreToken =
    connection.tokenFile && !flags.token
      ? {
          token: await readTokenFile(connection.tokenFile),
          source: 'file',
          file: connection.tokenFile,
        }
      : await findStoreToken({ flag: flags.token, env: ctx.env });
  const url = flags.store ?? ctx.env.P2_STORE ?? defaultStoreUrl();
  const store = createStore(url, {
    ...connection.options,
    ...(found.token ? { token: found.token } : {}),
  });
  try {
    return await fn(store);
  } catch (error) {
    throw explainDenied(error, found);
  } finally {
    await store.close();
  }
}

/**
 * `--node`, else this host's name (as P2's tools defaulted).
 *
 * @example nodeName(undefined) // os.hostname()
 */
export function nodeName(flag: string | undefined): string {
  return flag ?? hostname();
}
