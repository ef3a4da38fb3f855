/**
 * `p2 log-bridge [options] [--] EXEC…` (also the `p2-log-bridge` binary, P2's name) — a runit log
 * service's bridge: the service's output from stdin durably to EXEC, and a lossy, rate-limited copy
 * to a log shipper, through `@p2/logs`' `runLogBridge`. What it did is printed on stderr when its
 * input ends (stdout may be the lossy copy).
 */
import { type Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { type CliContext, durationMs, parseWholeNumber, run } from '@p2/cli-kit';
import { type LogBridgeReport, parseLossyDestination, runLogBridge } from '@p2/logs';

/** A whole number ≥ 1, refused as commander refuses an option's argument (usage error). */
function positive(value: string): number {
  const n = parseWholeNumber(value, 1);
  if (n === undefined) throw new InvalidArgumentError('It must be a whole number ≥ 1.');
  return n;
}

function summary(report: LogBridgeReport): string {
  const { sent, dropped, truncated } = report.lossy;
  return `log bridge: ${report.bytes} bytes to the log command (started again ${report.restarts} times); lossy copy: ${sent} lines sent, ${dropped} dropped, ${truncated} cut\n`;
}

/**
 * Declares the log bridge's arguments and options on `command` and its action: shared by
 * `p2 log-bridge` and the `p2-log-bridge` binary.
 */
export function defineLogBridge(command: Command, ctx: CliContext): void {
  command
    .description(
      "Copy a runit service's output (stdin) to a log command, and a lossy copy to a log shipper (P2: p2-log-bridge)",
    )
    .argument('<exec...>', 'the log command and its arguments, e.g. svlogd -tt ./main')
    // Everything after the log command is its own (P2: p2-log-bridge svlogd -tt ./main).
    .passThroughOptions()
    .option(
      '--lossy-to <dest>',
      'where the lossy copy goes: none, stdout, or unix:PATH (a log shipper’s stream socket)',
      'none',
    )
    .addOption(
      new Option(
        '--format <format>',
        'lossy records: json (with the pod, launchable, service) or raw',
      )
        .choices(['json', 'raw'] as const)
        .default('json' as const),
    )
    .option('--lines-per-second <n>', 'lossy copy: lines sent per second', positive, 1024)
    .option('--bytes-per-second <n>', 'lossy copy: bytes sent per second', positive, 4096)
    .option('--buffer-lines <n>', 'lossy copy: lines queued; more are dropped', positive, 1024)
    .option('--max-line-bytes <n>', 'lossy copy: longer lines are cut', positive, 4096)
    .option(
      '--restart-delay <duration>',
      'pause before a log command that exited is started again',
      '1s',
    )
    .option('--json', 'print the final report on stderr as JSON')
    .action(
      run(ctx, async (exec, options) => {
        // Diagnostics (a log command that exited) go to stderr, where runsvdir shows a log
        // service's, as JSON lines. Not pino: one bridge runs per service and pino costs each ~6 MB.
        const logger = {
          warn: (fields: object, msg: string) =>
            ctx.io.stderr(
              `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), name: 'p2-log-bridge', msg, ...fields })}\n`,
            ),
        };
        const stop = new AbortController();
        const abort = () => stop.abort();
        process.once('SIGTERM', abort);
        process.once('SIGINT', abort);
        try {
          const report = await runLogBridge({
            exec,
            lossy: parseLossyDestination(options.lossyTo),
            format: options.format,
            limits: {
              linesPerSecond: options.linesPerSecond,
              bytesPerSecond: options.bytesPerSecond,
              bufferLines: options.bufferLines,
              maxLineBytes: options.maxLineBytes,
            },
            env: ctx.env,
            restartDelayMs: durationMs(options.restartDelay, '--restart-delay'),
            signal: stop.signal,
            logger,
          });
          ctx.io.stderr(options.json ? `${JSON.stringify(report)}\n` : summary(report));
        } finally {
          process.off('SIGTERM', abort);
          process.off('SIGINT', abort);
        }
      }),
    );
}

export function registerLogBridgeCommand(program: Command, ctx: CliContext): void {
  defineLogBridge(program.command('log-bridge'), ctx);
}
