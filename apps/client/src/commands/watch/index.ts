/**
 * `p2 watch [--node N] [--pod P]` — `p2 inspect` live (`@p2/inspect`'s watchInspection): redraws on
 * a terminal, one JSON line per change when piped or with `--json`.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  ExitCode,
  emitRecord,
  type OutputOptions,
  run,
  style,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { inspectionJson, watchInspection } from '@p2/inspect';
import { following } from '../../lib/follow.js';
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
      .option('--count <n>', 'stop after n updates (default: run until interrupted)')
      .option('--json', 'print one JSON line per change'),
  ).action(
    run(ctx, async (options) => {
      // No --count: run until interrupted (Number.isInteger(Infinity) is false, so check it apart).
      const limit = options.count === undefined ? Number.POSITIVE_INFINITY : Number(options.count);
      if (options.count !== undefined && (!Number.isInteger(limit) || limit < 1)) {
        ctx.io.stderr(
          `error: --count must be a positive integer, got ${JSON.stringify(options.count)}\n`,
        );
        return ExitCode.USAGE;
      }
      const live = ctx.io.isTTY && !options.json;
      await following(ctx, ({ signal, onError, recovered }) =>
        withStore(ctx, options, async (store) => {
          let seen = 0;
          for await (const inspection of watchInspection(
            store,
            filterOf(options),
            signal,
            onError,
          )) {
            recovered();
            if (live) {
              ctx.io.stdout(
                `\u001b[H\u001b[2J${style.bold(ctx.io, `p2 watch — ${new Date().toISOString()}`)}\n${renderInspection(ctx.io, inspection)}\n`,
              );
            } else {
              // Piped without a format: JSON lines still (a script reads them).
              emitRecord(
                ctx.io,
                (options as OutputOptions).output === 'yaml' ? options : { json: true },
                { time: new Date().toISOString(), ...inspectionJson(inspection) },
              );
            }
            if (++seen >= limit) break;
          }
        }),
      );
    }),
  );
}
