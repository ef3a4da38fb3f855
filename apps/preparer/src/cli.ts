/**
 * `p2-preparer [--config FILE]` — the host agent. Reads its configuration from `--config` or
 * `CONFIG_PATH` (P2's way: the preparer runs as a pod and its config is the pod's config file).
 */
import { parseArgs } from 'node:util';
import { ExitCode, formatError, processIo, table } from '@p2/cli-kit';
import { P2Error } from '@p2/errors';
import { openSocketLogDestination } from '@p2/logs';
import {
  checkPreparerConfigFile,
  loadPreparerConfig,
  type PreparerConfig,
  pinoLevel,
} from '@p2/preparer-config';
import pino, { type Logger } from 'pino';
import { startPreparer } from './main.js';

const usage = `Usage: p2-preparer [--config FILE]
       p2-preparer --check-config FILE [--json]

Makes this host's pods match intent/<node>/ in the store. The configuration is a YAML file with a
\`preparer:\` key (default: the file named by CONFIG_PATH).

Options:
  --config FILE         configuration file (overrides CONFIG_PATH)
  --check-config FILE   print what p2 does with every key of FILE (implemented, ignored: why, or
                        unknown) and whether the preparer would start with it (exit 0) or not (1)
  --json                with --check-config: print it as JSON
  -h, --help            show this help
`;

/** `--check-config FILE`: every key's fate, then whether the whole file is valid. */
function checkConfig(file: string, json: boolean): number {
  const { error, ...report } = checkPreparerConfigFile(file);
  if (json) {
    const why = error instanceof P2Error ? error.toJSON() : { message: String(error) };
    processIo.stdout(
      `${JSON.stringify({ ...report, ...(error ? { error: why } : {}) }, null, 2)}\n`,
    );
  } else {
    const fate = (k: (typeof report.keys)[number]) =>
      k.status === 'ignored'
        ? `ignored: ${k.reason}`
        : k.didYouMean
          ? `unknown (did you mean ${k.didYouMean}?)`
          : k.status;
    const rows = report.keys.map((k) => [k.key, k.origin ?? '-', fate(k)]);
    processIo.stdout(`${table(['KEY', 'FROM', 'WHAT p2 DOES'], rows)}\n`);
    if (error) processIo.stderr(formatError(error, { label: 'p2-preparer', showCode: false }));
    else processIo.stdout(`${file}: valid; the preparer starts with it\n`);
  }
  return report.valid ? ExitCode.OK : ExitCode.FAILURE;
}

/**
 * The preparer's logger: JSON lines on stdout and, for each of `extra_log_destinations`, on a unix
 * socket (one connection per entry, as P2 did). A socket that is absent or slow never holds the
 * preparer up: its entries are dropped, counted, and a warning says so (at most once a minute).
 */
async function createLogger(config: PreparerConfig): Promise<Logger> {
  const level = pinoLevel(config.logLevel);
  const options = { name: 'p2-preparer', level, base: { node: config.nodeName } };
  if (config.extraLogDestinations.length === 0) return pino(options);
  let logger: Logger | undefined;
  const sockets = await Promise.all(
    config.extraLogDestinations.map(({ path }) =>
      openSocketLogDestination(path, {
        onDrop: (drop) => logger?.warn(drop, 'extra log destination dropped log entries'),
      }),
    ),
  );
  logger = pino(
    options,
    pino.multistream([
      { level, stream: pino.destination(1) },
      ...sockets.map((stream) => ({ level, stream })),
    ]),
  );
  return logger;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      'check-config': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return ExitCode.OK;
  }
  if (values['check-config'] !== undefined)
    return checkConfig(values['check-config'], values.json === true);
  let logger = pino({ name: 'p2-preparer' });
  try {
    const config = loadPreparerConfig(values.config ?? process.env.CONFIG_PATH);
    logger = await createLogger(config);
    const running = await startPreparer(config, { logger });
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    logger.info('signal received; finishing in-flight work');
    await running.stop();
    return ExitCode.OK;
  } catch (error) {
    if (error instanceof P2Error) {
      logger.fatal({ code: error.code, hint: error.hint }, error.message);
      process.stderr.write(formatError(error, { label: 'p2-preparer', showCode: false }));
    } else {
      logger.fatal({ err: error }, 'p2-preparer failed');
    }
    return ExitCode.FAILURE;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`p2-preparer: ${String(error)}\n`);
    process.exitCode = ExitCode.FAILURE;
  },
);
