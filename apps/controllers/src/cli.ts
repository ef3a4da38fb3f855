/**
 * `p2-controllers --store URL` — runs the replication controller, rolling update and daemon set
 * farms until SIGTERM/SIGINT, then releases every lock and session and exits 0.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DelegatedSigner, loadSecretKeyFile } from '@p2/auth';
import {
  CliExit,
  ExitCode,
  type ExitCodeTable,
  exitCodeFor,
  formatError,
  STORE_ACCESS_EXIT_CODES,
  storeFlagOptions,
} from '@p2/cli-kit';
import { checkStoreAccess } from '@p2/controller-farms';
import { P2Error, redactCredentials } from '@p2/errors';
import { findStoreToken, storeUrlFromEnv } from '@p2/kv';
import pino from 'pino';
import { parseFarms, parseMs } from './args.js';
import { ControllersErrorCode } from './errors.js';
import { startControllers } from './main.js';
import { type Observability, startObservability } from './observe.js';

const usage = `Usage: p2-controllers --store URL [options]

Runs P2's controller farms against one store: replication controllers (RC farm), rolling updates
(roll farm) and daemon sets (DS farm). Farms claim records through session locks, so several
p2-controllers processes can run side by side. Logs are JSON lines (pino) on stdout.

Options:
  --store URL          store location, e.g. consul://127.0.0.1:8500 (default: $P2_STORE, else $CONSUL_HTTP_ADDR)
  --token TOKEN        the store's ACL token (default: $CONSUL_HTTP_TOKEN, else the file
                       $P2_TOKEN_FILE or /etc/p2/consul.token that p2-bootstrap wrote; root only)
  --token-file FILE    read the ACL token from this file (env CONSUL_HTTP_TOKEN_FILE)
  --ca-file FILE       PEM CA that signed the store's certificate (env CONSUL_CACERT)
  --cert-file FILE     PEM client certificate for a store that requires one (env CONSUL_CLIENT_CERT)
  --key-file FILE      its PEM private key, mode 600 (env CONSUL_CLIENT_KEY)
  --header 'K: V'      sent with every store request (repeatable; never the token; never shown)
  --farms LIST         comma-separated farms to run: rc,roll,ds (default: all)
  --resync-ms N        re-reconcile every controller at least every N ms (default 30000)
  --roll-poll-ms N     how often a rolling update re-reads health (default 1000)
  --session-ttl-ms N   TTL of the farms' lock sessions (default 15000)
  --lock-delay-ms N    lock-delay of those sessions (default 5000)
  --ds-max-in-flight N most nodes a daemon set replaces at once (default 50, P2's; more for
                       large fleets: each wave waits for the last one's health)
  --metrics-port N     serve Prometheus metrics on http://HOST:N/metrics
  --metrics-host HOST  address the metrics server binds (default 127.0.0.1)
  --alert-webhook URL  also send alerts there as PagerDuty Events API v2 events
                       (e.g. https://events.pagerduty.com/v2/enqueue); retried, never blocking
  --alert-routing-key-file F  the events' routing_key (PagerDuty integration key), read from F
  --sign-key FILE      delegated signing: sign every manifest written into intent with this
                       secret key (armored or binary, unprotected, mode 600, root's own as root)
                       and name the RC or daemon set that asked for it; hosts whose
                       auth.delegation.keyring holds its public key accept it only for records
                       a deployer signed (p2 rc create --sign-key)
  --log-level LEVEL    pino level: trace, debug, info, warn, error (default info)
  -h, --help           show this help

Exit status: 0 after a clean shutdown on SIGTERM/SIGINT, 2 on bad arguments, 5 when the store
refuses the token (or the token file is unsafe), 1 on other errors.
`;

const EXIT_CODES: ExitCodeTable = {
  ...STORE_ACCESS_EXIT_CODES,
  [ControllersErrorCode.INVALID_ARGUMENT]: ExitCode.USAGE,
};

async function main(): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({
      options: {
        store: { type: 'string' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        'ca-file': { type: 'string' },
        'cert-file': { type: 'string' },
        'key-file': { type: 'string' },
        header: { type: 'string', multiple: true },
        farms: { type: 'string' },
        'resync-ms': { type: 'string' },
        'roll-poll-ms': { type: 'string' },
        'session-ttl-ms': { type: 'string' },
        'lock-delay-ms': { type: 'string' },
        'ds-max-in-flight': { type: 'string' },
        'metrics-port': { type: 'string' },
        'metrics-host': { type: 'string' },
        'alert-webhook': { type: 'string' },
        'alert-routing-key-file': { type: 'string' },
        'sign-key': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`p2-controllers: ${(error as Error).message}\n\n${usage}`);
    return ExitCode.USAGE;
  }
  if (values.help) {
    process.stdout.write(usage);
    return ExitCode.OK;
  }
  const logger = pino({ name: 'p2-controllers', level: String(values['log-level']) });
  // Listening before anything starts: a signal during start-up still ends in a clean stop.
  const signalled = new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  let running: ReturnType<typeof startControllers>;
  let observed: Observability | undefined;
  try {
    // As the client: --store, else P2_STORE, else Consul's CONSUL_HTTP_ADDR; a daemon never guesses.
    const env = process.env;
    const store =
      (values.store as string | undefined) ??
      (env.P2_STORE || env.CONSUL_HTTP_ADDR ? storeUrlFromEnv(env) : '');
    const str = (k: string) => values[k] as string | undefined;
    const tokenFile = str('token-file');
    const found = await findStoreToken({
      flag: str('token'),
      ...(tokenFile !== undefined ? { tokenFile: resolve(tokenFile) } : {}),
    });
    const storeOptions = storeFlagOptions(
      {
        caFile: str('ca-file'),
        certFile: str('cert-file'),
        keyFile: str('key-file'),
        header: values.header as string[] | undefined,
      },
      process.env,
      process.cwd(),
    );
    observed = await startObservability(
      {
        metricsPort: str('metrics-port'),
        metricsHost: str('metrics-host'),
        alertWebhook: str('alert-webhook'),
        alertRoutingKeyFile: str('alert-routing-key-file'),
      },
      logger,
    );
    const signKey = str('sign-key');
    const intentSigner = signKey
      ? new DelegatedSigner((await loadSecretKeyFile(resolve(signKey), { private: true }))[0]!)
      : undefined;
    if (intentSigner) logger.info({ key: intentSigner.fingerprint }, 'signing intent (delegated)');
    running = startControllers({
      ...(intentSigner ? { intentSigner } : {}),
      metrics: observed.metrics,
      ...(observed.onAlert ? { onAlert: observed.onAlert } : {}),
      store,
      storeOptions,
      ...(found.token ? { token: found.token } : {}),
      farms: parseFarms(str('farms')),
      resyncMs: parseMs('--resync-ms', str('resync-ms'), 30_000),
      rollPollMs: parseMs('--roll-poll-ms', str('roll-poll-ms'), 1_000),
      sessionTtlMs: parseMs('--session-ttl-ms', str('session-ttl-ms'), 15_000),
      lockDelayMs: parseMs('--lock-delay-ms', str('lock-delay-ms'), 5_000),
      dsMaxInFlight: parseMs('--ds-max-in-flight', str('ds-max-in-flight'), 50, 'nodes'),
      logger,
    });
    await checkStoreAccess(running.store, found).catch(async (error: unknown) => {
      await running.stop();
      throw error;
    });
  } catch (error) {
    await observed?.close();
    if (error instanceof CliExit) {
      process.stderr.write(`p2-controllers: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof P2Error) {
      logger.fatal({ code: error.code, hint: error.hint }, error.message);
      process.stderr.write(formatError(error, { label: 'p2-controllers', showCode: false }));
      return exitCodeFor(error, EXIT_CODES);
    }
    throw error;
  }
  await signalled;
  logger.info('signal received; releasing locks');
  await running.stop();
  await observed.close();
  return ExitCode.OK;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`p2-controllers: ${redactCredentials(String(error))}\n`);
    process.exitCode = ExitCode.FAILURE;
  },
);
