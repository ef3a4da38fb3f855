/**
 * `p2 watch [--node N] [--pod P]` — `p2 inspect` live (`@p2/inspect`'s watchInspection): redraws on
 * a terminal, one JSON line per change when piped or with `--json`.
 */
import type { Command } from '@commander-js/extra-typings';
import { type CliContext, ExitCode, run, style, withStore, withStoreFlags } from '@p2/cli-kit';
import { watchInspection } from '@p2/inspect';
import { filterOf, renderInspection } from '../inspect/index.js';

export function registerWatchCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('watch')
      .description(
        'Follow `p2 inspect` live: redraws on a terminal, one JSON line per change when piped (or with --json)',
      )
      .option('--node <node>', 'only this node')
      .option('--pod <pod>', 'only this pod id (or uuid)')
      .option('--count <n>', 'stop after n updates')
      .option('--json', 'print one JSON line per change'),
  ).action(
    run(ctx, async (options) => {
      const limit = options.count === undefined ? Number.POSITIVE_INFINITY : Number(options.count);
      if (!Number.isInteger(limit) || limit < 1) {
        ctx.io.stderr(
          `error: --count must be a positive integer, got ${JSON.stringify(options.count)}\n`,
        );
        return ExitCode.USAGE;
      }
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const live = ctx.io.isTTY && !options.json;
      try {
        await withStore(ctx, options, async (store) => {
          let seen = 0;
          let lastError = '';
          const onError = (error: unknown) => {
            // Say once that the store is unreachable; the watch keeps retrying with backoff.
            const text = error instanceof Error ? error.message : String(error);
            if (text === lastError) return;
            lastError = text;
            ctx.io.stderr(`${style.yellow(ctx.io, 'warning')}: ${text} (retrying)\n`);
          };
          for await (const inspection of watchInspection(
            store,
            filterOf(options),
            controller.signal,
            onError,
          )) {
            lastError = '';
            if (live) {
              ctx.io.stdout(
                `\u001b[H\u001b[2J${style.bold(ctx.io, `p2 watch — ${new Date().toISOString()}`)}\n${renderInspection(ctx.io, inspection)}\n`,
              );
            } else {
              ctx.io.stdout(
                `${JSON.stringify({ time: new Date().toISOString(), ...inspection })}\n`,
              );
            }
            if (++seen >= limit) break;
          }
        });
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    }),
  );
}
