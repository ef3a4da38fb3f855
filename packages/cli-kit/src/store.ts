/**
 * The store flags (spec 03 §0.3: `--store`/`P2_STORE`, `--token`/`CONSUL_HTTP_TOKEN`, then p2's
 * token file; and as Consul's CLI has them, `--token-file`/`CONSUL_HTTP_TOKEN_FILE`, TLS files for
 * a store that wants a client certificate, and extra headers) and opening the store with them.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import {
  type Command,
  type CommandUnknownOpts,
  Option,
  type OptionValues,
} from '@commander-js/extra-typings';
import {
  createStore,
  DEFAULT_TOKEN_FILE,
  explainDenied,
  findStoreToken,
  type Store,
  type StoreOptions,
  storeUrlFromEnv,
  TOKEN_FILE_ENV,
} from '@p2/kv';
import { collect } from './args.js';
import { contextFilePath, pickContext, readContexts, type StoreContext } from './contexts.js';
import { CliExit, ExitCode } from './exit-code.js';
import type { CliContext } from './run.js';

/** The store without `--store`/`P2_STORE`/`CONSUL_HTTP_ADDR`: the local embedded store (HTTPS when bootstrapped). */
const DEFAULT_STORE = 'consul://127.0.0.1:8500 (consul+https with /etc/p2/tls/kv.pem when present)';

/** The options {@link withStoreFlags} adds, as commander parses them. */
type StoreFlagOptions = Omit<StoreFlags, 'header'> & { header: string[] };

/** The options {@link withStoreFlags} adds. */
export interface StoreFlags {
  store?: string;
  /** A named store of the contexts file (`p2 context`). */
  context?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** P2's names of the three TLS flags (accepted, not listed in help). */
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** `Name: value` (or P2's `Name=value`), each as given (repeatable). */
  header?: string[];
}

/**
 * Adds the store flags to a command: `--store`, `--token`, `--token-file`, `--ca-file`,
 * `--cert-file`, `--key-file` and `--header` (repeatable).
 *
 * @example withStoreFlags(program.command('kv').command('get')).action(…)
 */
export function withStoreFlags<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(command: Command<Args, Opts, Globals>): Command<Args, Opts & StoreFlagOptions, Globals> {
  // Declared, not inferred: inferring seven chained options on a generic command costs tsc minutes.
  (command as unknown as CommandUnknownOpts)
    .option(
      '--store <url>',
      `store URL, or Consul's http(s)://host:port (env P2_STORE, else CONSUL_HTTP_ADDR; default ${DEFAULT_STORE})`,
    )
    .option(
      '--context <name>',
      'a store named in ~/.config/p2/config.yaml, with its token and TLS files (env P2_CONTEXT; default: its current-context; `p2 context list`)',
    )
    .option(
      '--token <token>',
      `ACL token (env CONSUL_HTTP_TOKEN; else read from ${TOKEN_FILE_ENV} or ${DEFAULT_TOKEN_FILE})`,
    )
    .option('--token-file <file>', 'read the ACL token from this file (env CONSUL_HTTP_TOKEN_FILE)')
    .option('--ca-file <file>', "PEM CA that signed the store's certificate (env CONSUL_CACERT)")
    .option(
      '--cert-file <file>',
      'PEM client certificate for a store that requires one (env CONSUL_CLIENT_CERT)',
    )
    .option('--key-file <file>', 'its PEM private key, mode 600 (env CONSUL_CLIENT_KEY)')
    .option(
      '--header <header>',
      '"Name: value" sent with every store request (repeatable; values are never printed)',
      collect,
      [] as string[],
    );
  // P2's spellings of the TLS flags, so its scripts keep working.
  for (const [flag, instead] of [
    ['--tls-ca-file', '--ca-file'],
    ['--tls-cert-file', '--cert-file'],
    ['--tls-key-file', '--key-file'],
  ] as const)
    (command as unknown as CommandUnknownOpts).addOption(
      new Option(`${flag} <file>`, `P2's name of ${instead}`).hideHelp(),
    );
  return command as unknown as Command<Args, Opts & StoreFlagOptions, Globals>;
}

/**
 * Parses `--header` values (`Name: value`) into a map. Messages name the header, never its value.
 * @throws CliExit {@link ExitCode.USAGE}
 */
function parseHeaders(values: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  values.forEach((text, i) => {
    // A header name holds neither ':' nor '=', so the first of them ends it (P2 wrote `Name=value`).
    const end = text.search(/[:=]/);
    const name = end > 0 ? text.slice(0, end).trim() : '';
    if (name === '')
      throw new CliExit(
        ExitCode.USAGE,
        `error: --header #${i + 1} is not "Name: value"\nhint: e.g. --header 'X-Request-Source: deploys'`,
      );
    headers[name] = text.slice(end + 1).trim();
  });
  return headers;
}

/**
 * The store options of the store flags, else of Consul's variables: TLS files (relative to `cwd`)
 * and extra headers, checked by `@p2/kv` when the store is made. For programs that parse their own
 * argv (p2-controllers); commander commands get them through {@link withStore}.
 * @throws CliExit {@link ExitCode.USAGE} for a malformed `--header`
 * @example createStore(url, storeFlagOptions({ caFile: 'ca.pem' }, process.env, process.cwd()))
 */
export function storeFlagOptions(
  flags: Omit<StoreFlags, 'store' | 'token' | 'tokenFile'>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): StoreOptions {
  const file = (flag: string | undefined, variable: string) => {
    const path = flag ?? (env[variable] || undefined);
    return path === undefined ? undefined : resolve(cwd, path);
  };
  const caFile = file(flags.caFile ?? flags.tlsCaFile, 'CONSUL_CACERT');
  const certFile = file(flags.certFile ?? flags.tlsCertFile, 'CONSUL_CLIENT_CERT');
  const keyFile = file(flags.keyFile ?? flags.tlsKeyFile, 'CONSUL_CLIENT_KEY');
  const headers = parseHeaders(flags.header ?? []);
  return {
    ...(caFile !== undefined ? { tlsCaFile: caFile } : {}),
    ...(certFile !== undefined ? { tlsCertFile: certFile } : {}),
    ...(keyFile !== undefined ? { tlsKeyFile: keyFile } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  };
}

/** How to reach the store beyond `--store` and `--token` (P2's store flags, say). */
export interface StoreConnection {
  /** TLS files and the blocking-query wait for `createStore`. */
  options?: Omit<StoreOptions, 'token' | 'logger'>;
  /** Without `--token`: the ACL token is this file's content, trimmed (P2's `--token-file`). */
  tokenFile?: string;
}

/**
 * Opens the store, runs `fn`, and always closes it. The store is `--store`, else the context
 * `--context`/`P2_CONTEXT` names, else `P2_STORE`, else `CONSUL_HTTP_ADDR` (as Consul's CLI reads it;
 * `@p2/kv`'s `storeUrlFromEnv`), else the contexts file's current-context (`contexts.ts`), else the
 * local kv-server. A context's token file and TLS files stand where `--token-file` and the TLS flags
 * would (flags still win), and go only to the context's own store. The ACL token is `--token`, else `--token-file`, else `CONSUL_HTTP_TOKEN`,
 * else `CONSUL_HTTP_TOKEN_FILE`, else the token file `p2-bootstrap` wrote (`P2_TOKEN_FILE`, else
 * `/etc/p2/consul.token`; readable by root only), every file read as `@p2/kv`'s `findStoreToken`
 * trusts it. `--ca-file`, `--cert-file`, `--key-file` (else `CONSUL_CACERT`,
 * `CONSUL_CLIENT_CERT`, `CONSUL_CLIENT_KEY`) override the URL's `?ca=`, `?cert=`, `?key=`;
 * `--header`s go with every request and may not carry the token.
 *
 * @throws KvError `P2_KV_PERMISSION_DENIED` for a 403, saying which token was sent and where p2
 *   looked; `P2_KV_TOKEN_FILE_UNSAFE` for a token file p2 must not trust;
 *   `P2_KV_TOKEN_FILE_UNREADABLE` for a named token file that cannot be read; `P2_KV_BAD_OPTIONS`
 *   for TLS files p2 must not use and headers it refuses; CliExit for a malformed `--header`.
 * @example const value = await withStore(ctx, options, (store) => store.get('intent/h1/web'))
 */
export async function withStore<T>(
  ctx: CliContext,
  flags: StoreFlags,
  fn: (store: Store) => Promise<T>,
  connection: StoreConnection = {},
): Promise<T> {
  const context = await storeContext(ctx, flags);
  const found = await findStoreToken({
    flag: flags.token,
    tokenFile:
      flags.tokenFile === undefined
        ? (context?.tokenFile ?? connection.tokenFile)
        : resolve(ctx.cwd, flags.tokenFile),
    env: ctx.env,
  });
  const url = flags.store ?? context?.store ?? storeUrlFromEnv(ctx.env);
  const tls = {
    caFile: flags.caFile ?? flags.tlsCaFile ?? context?.caFile,
    certFile: flags.certFile ?? flags.tlsCertFile ?? context?.certFile,
    keyFile: flags.keyFile ?? flags.tlsKeyFile ?? context?.keyFile,
  };
  const store = createStore(url, {
    ...connection.options,
    ...storeFlagOptions({ ...tls, header: flags.header ?? [] }, ctx.env, ctx.cwd),
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
 * The context a command's store comes from, if any: `--context`, else `P2_CONTEXT`, else the
 * contexts file's current context — unless `--store`, `P2_STORE` or `CONSUL_HTTP_ADDR` names the
 * store (the file is then not read at all).
 * @throws CliExit {@link ExitCode.USAGE} for `--store` with `--context`; what {@link readContexts} and {@link pickContext} throw
 */
async function storeContext(ctx: CliContext, flags: StoreFlags): Promise<StoreContext | undefined> {
  if (flags.store !== undefined) {
    if (flags.context !== undefined)
      throw new CliExit(
        ExitCode.USAGE,
        'error: --store and --context both name a store\nhint: pass one of them',
      );
    return undefined;
  }
  const named = flags.context ?? (ctx.env.P2_CONTEXT || undefined);
  if (named === undefined && (ctx.env.P2_STORE || ctx.env.CONSUL_HTTP_ADDR)) return undefined;
  const config = await readContexts(contextFilePath(ctx.env), ctx.env);
  return pickContext(config, flags.context, ctx.env);
}

/**
 * `--node`, else this host's name (as P2's tools defaulted).
 *
 * @example nodeName(undefined) // os.hostname()
 */
export function nodeName(flag: string | undefined): string {
  return flag ?? hostname();
}
