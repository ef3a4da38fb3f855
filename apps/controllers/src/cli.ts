/**
 * `p2-controllers --store URL` — runs the replication controller, rolling update and daemon set
 * farms until SIGTERM/SIGINT, then releases every lock and session and exits 0.
 */
import { parseArgs } from 'node:util';
import { P2Error, redactCredentials } from '@p2/errors';
import pino from 'pino';
import { ControllersError, ControllersErrorCode } from './errors.js';
import { parseFarms, parseMs, startControllers } from './main.js';

const usage = `Usage: p2-controllers --store URL [options]

Runs P2's controller farms against one store: replication controllers (RC farm), rolling updates
(roll farm) and daemon sets (DS farm). Farms claim records through session locks, so several
p2-controllers processes can run side by side. Logs are JSON lines (pino) on stdout.

Options:
  --store URL          store location, e.g. consul://127.0.0.1:8500 (default: $P2_STORE)
  --farms LIST         comma-separated farms to run: rc,roll,ds (default: all)
  --resync-ms N        re-reconcile every controller at least every N ms (default 30000)
  --roll-poll-ms N     how often a rolling update re-reads health (default 1000)
  --session-ttl-ms N   TTL of the farms' lock sessions (default 15000)
  --lock-delay-ms N    lock-delay of those sessions (default 5000)
  --log-level LEVEL    pino level: trace, debug, info, warn, error (default info)
  -h, --help           show this help

Exit status: 0 after a clean shutdown on SIGTERM/SIGINT, 2 on bad arguments, 1 on other errors.
`;

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      options: {
        store: { type: 'string' },
        farms: { type: 'string' },
        'resync-ms': { type: 'string' },
        'roll-poll-ms': { type: 'string' },
        'session-ttl-ms': { type: 'string' },
        'lock-delay-ms': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`p2-controllers: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const logger = pino({ name: 'p2-controllers', level: String(values['log-level']) });
  let running: ReturnType<typeof startControllers>;
  try {
    const store = (values.store as string | undefined) ?? process.env.P2_STORE;
    if (!store)
      throw new ControllersError(ControllersErrorCode.INVALID_ARGUMENT, 'no store given', {
        hint: 'pass --store consul://127.0.0.1:8500 or set P2_STORE',
      });
    const str = (k: string) => values[k] as string | undefined;
    running = startControllers({
      store,
      farms: parseFarms(str('farms')),
      resyncMs: parseMs('--resync-ms', str('resync-ms'), 30_000),
      rollPollMs: parseMs('--roll-poll-ms', str('roll-poll-ms'), 1_000),
      sessionTtlMs: parseMs('--session-ttl-ms', str('session-ttl-ms'), 15_000),
      lockDelayMs: parseMs('--lock-delay-ms', str('lock-delay-ms'), 5_000),
      logger,
    });
  } catch (error) {
    if (error instanceof P2Error) {
      logger.fatal({ code: error.code, hint: error.hint }, error.message);
      process.stderr.write(
        `p2-controllers: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ''}\n`,
      );
      return error.code === ControllersErrorCode.INVALID_ARGUMENT ? 2 : 1;
    }
    throw error;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  logger.info('signal received; releasing locks');
  await running.stop();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`p2-controllers: ${redactCredentials(String(error))}\n`);
    process.exitCode = 1;
  },
);
