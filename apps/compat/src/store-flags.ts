/**
 * P2's common store flags (spec 03 §0.3) on p2's store: each one is honoured, or refused or warned
 * about with its reason — never silently dropped.
 */
import {
  type CliContext,
  collect,
  durationMs,
  type StoreConnection,
  type StoreFlags,
  withStore,
} from '@p2/cli-kit';
import { type Store, storeUrlFromEnv } from '@p2/kv';
import { compatProgram, fail, warn } from './run.js';

/** The options {@link storeProgram} has. */
export interface P2StoreFlags {
  consul?: string;
  httpApplicatorUrl?: string;
  token?: string;
  tokenFile?: string;
  header?: string[];
  https?: true;
  wait?: string;
  tlsCaFile?: string;
  tlsKeyFile?: string;
  tlsCertFile?: string;
}

/**
 * A binary's program with P2's store flags (before its own arguments and options). Not a generic
 * "add to any command" helper: commander's inferred option types grow exponentially there.
 *
 * @example storeProgram('p2-inspect', 'Print …', ctx).option('--pod <pod>').action(…)
 */
export function storeProgram(name: string, description: string, ctx: CliContext) {
  return compatProgram(name, description, ctx)
    .option(
      '--consul <address>',
      "the store's host:port (or a p2 store URL such as etcd://h:2379); default: P2_STORE, else the local store",
    )
    .option(
      '--http-applicator-url <url>',
      'P2: a remote label applicator; p2 keeps labels in the store (refused by p2-label, ignored elsewhere)',
    )
    .option(
      '--token <token>',
      'ACL token (else --token-file, CONSUL_HTTP_TOKEN, then /etc/p2/consul.token)',
    )
    .option('--token-file <file>', 'read the ACL token from this file (content trimmed)')
    .option(
      '--header <KEY=VALUE>',
      'sent with every store request (repeatable; not the token; values never printed)',
      collect,
    )
    .option('--https', 'talk HTTPS to the store')
    .option('--wait <duration>', 'longest blocking-query wait (default 30s)')
    .option('--tls-ca-file <file>', 'CA that signed the store’s certificate (implies HTTPS)')
    .option('--tls-cert-file <file>', 'client certificate for the store (mTLS; implies HTTPS)')
    .option('--tls-key-file <file>', 'private key of --tls-cert-file (mode 600)');
}

/** What a binary does with labels, which decides what `--http-applicator-url` means to it. */
export type LabelUse =
  /** It reads and writes labels (p2-label): a remote applicator is refused. */
  | 'labels'
  /** It changes labels but P2's version ignored the flag too (p2-rm): warned about. */
  | 'ignores-applicator'
  /** It uses no labels (p2-schedule, p2-inspect): warned about. */
  | 'none';

/** How {@link p2StoreAccess} reaches the store: cli-kit's store flags and connection, and warnings. */
export interface P2StoreAccess {
  flags: StoreFlags;
  connection: StoreConnection;
  warnings: string[];
}

/** `--consul` (and `--https`) as a p2 store URL; `undefined` leaves the choice to cli-kit. */
function storeUrl(
  consul: string | undefined,
  https: boolean,
  env: NodeJS.ProcessEnv,
): string | undefined {
  if (consul === undefined) {
    if (!https) return undefined;
    const local = storeUrlFromEnv(env);
    return local.replace(/^consul:\/\//, 'consul+https://');
  }
  if (consul.startsWith('unix://') || consul.startsWith('/'))
    throw fail(
      `--consul ${consul}: p2 reaches the store over TCP, not a unix socket`,
      'give the store’s host:port',
    );
  if (/^https:\/\//i.test(consul)) return consul.replace(/^https:\/\//i, 'consul+https://');
  if (/^http:\/\//i.test(consul))
    return consul.replace(/^http:\/\//i, https ? 'consul+https://' : 'consul://');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(consul))
    return https ? consul.replace(/^consul:\/\//, 'consul+https://') : consul;
  return `${https ? 'consul+https' : 'consul'}://${consul}`;
}

/**
 * Maps P2's store flags to p2's: the store URL, the token or token file, TLS files, headers, the wait.
 *
 * @throws CliExit (exit 1) for a unix socket, `--token` with `--token-file`, a bad
 *   `--wait`, and `--http-applicator-url` where labels are needed.
 * @example p2StoreAccess({ consul: 'h1:8500', https: true }, 'none', {}).flags.store // 'consul+https://h1:8500'
 */
export function p2StoreAccess(
  flags: P2StoreFlags,
  labels: LabelUse,
  env: NodeJS.ProcessEnv,
): P2StoreAccess {
  const warnings: string[] = [];
  if (flags.token !== undefined && flags.tokenFile !== undefined)
    throw fail('give --token or --token-file, not both');
  if (flags.httpApplicatorUrl !== undefined) {
    if (labels === 'labels')
      throw fail(
        '--http-applicator-url is not supported: p2 has no remote label applicator; labels are read and written in the store',
        'leave it out (and give the store with --consul)',
      );
    warnings.push(
      labels === 'ignores-applicator'
        ? '--http-applicator-url is ignored, as P2’s p2-rm ignored it: labels are changed in the store'
        : '--http-applicator-url is ignored: this binary uses no labels (neither did P2’s)',
    );
  }
  const url = storeUrl(flags.consul, flags.https === true, env);
  const options: StoreConnection['options'] = {
    ...(flags.tlsCaFile ? { tlsCaFile: flags.tlsCaFile } : {}),
    ...(flags.tlsCertFile ? { tlsCertFile: flags.tlsCertFile } : {}),
    ...(flags.tlsKeyFile ? { tlsKeyFile: flags.tlsKeyFile } : {}),
    ...(flags.wait !== undefined ? { waitMs: durationMs(flags.wait, '--wait') } : {}),
  };
  return {
    flags: {
      ...(url ? { store: url } : {}),
      ...(flags.token ? { token: flags.token } : {}),
      ...(flags.header ? { header: flags.header } : {}),
    },
    connection: { options, ...(flags.tokenFile ? { tokenFile: flags.tokenFile } : {}) },
    warnings,
  };
}

/**
 * Opens the store P2's flags name (warning on stderr about flags it does not act on), runs `fn`, and
 * always closes it.
 *
 * @throws CliExit as {@link p2StoreAccess}; what cli-kit's `withStore` throws.
 * @example await withP2Store(ctx, options, 'none', (store) => inspectStore(store))
 */
export async function withP2Store<T>(
  ctx: CliContext,
  flags: P2StoreFlags,
  labels: LabelUse,
  fn: (store: Store) => Promise<T>,
): Promise<T> {
  const access = p2StoreAccess(flags, labels, ctx.env);
  for (const warning of access.warnings) warn(ctx, warning);
  return withStore(ctx, access.flags, fn, access.connection);
}
