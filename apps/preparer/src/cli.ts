/**
 * `p2-preparer [--config FILE]` — the host agent. Reads its configuration from `--config` or
 * `CONFIG_PATH` (P2's way: the preparer runs as a pod and its config is the pod's config file).
 */
import { parseArgs } from 'node:util';
import { ExitCode, formatError } from '@p2/cli-kit';
import { P2Error } from '@p2/errors';
import { loadPreparerConfig, pinoLevel } from '@p2/preparer-config';
import pino from 'pino';
import { startPreparer } from './main.js';

const usage = `Usage: p2-preparer [--config FILE]

Makes this host's pods match intent/<node>/ in the store. The configuration is a YAML file with a
\`preparer:\` key (default: the file named by CONFIG_PATH).

Options:
  --config FILE   configuration file (overrides CONFIG_PATH)
  -h, --help      show this help
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(usage);
    return ExitCode.OK;
  }
  let logger = pino({ name: 'p2-preparer' });
  try {
    const config = loadPreparerConfig(values.config ?? process.env.CONFIG_PATH);
    logger = pino({
      name: 'p2-preparer',
      level: pinoLevel(config.logLevel),
      base: { node: config.nodeName },
    });
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
