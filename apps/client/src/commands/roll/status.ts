/**
 * `p2 roll status [id] [--watch]`: rolling updates and their progress; `--watch` prints again on
 * every change (redrawn in place on a TTY) until interrupted, or, for one update, until it ends.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  formatRecord,
  type OutputOptions,
  run,
  style,
  table,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { inspectRolls, type RollView } from '@p2/inspect';
import { type Store, watchIndexed } from '@p2/kv';
import { checkController } from '../../lib/liveness.js';

const ENDED = new Set(['succeeded', 'failed', 'rolled_back', 'cancelled']);

function render(ctx: CliContext, rows: RollView[]): string {
  const counts = (c?: { healthy: number; current: number; desired: number }) =>
    c ? `${c.healthy}/${c.current}/${c.desired}` : '-';
  return rows.length === 0
    ? style.dim(ctx.io, 'no rolling updates')
    : table(
        [
          'ID',
          'OLD RC',
          'STATE',
          'NEW HEALTHY/SCHEDULED/DESIRED',
          'OLD HEALTHY/SCHEDULED/DESIRED',
          'MESSAGE',
        ],
        rows.map((r) => [
          r.id,
          r.roll?.oldRc ?? '-',
          r.status ? r.status.state : r.roll?.paused ? 'paused' : 'pending',
          counts(r.status?.new),
          counts(r.status?.old),
          r.status?.message ?? '',
        ]),
      );
}

/** Prints the rolls each time the store changes; ends with one update's end, or on SIGINT. */
async function watchRolls(
  ctx: CliContext,
  store: Store,
  id: string | undefined,
  output: OutputOptions,
): Promise<void> {
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  let last = '';
  try {
    for await (const _ of watchIndexed(
      (index, waitMs, s) => store.keys('', { index, waitMs, signal: s }),
      { signal: stop.signal },
    )) {
      const rows = await inspectRolls(store, id);
      const text =
        formatRecord(output, id ? (rows[0] ?? null) : rows)?.trimEnd() ?? render(ctx, rows);
      if (text !== last) {
        last = text;
        if (ctx.io.isTTY && !output.json) ctx.io.stdout('\u001b[H\u001b[2J');
        ctx.io.stdout(`${text}\n`);
      }
      const one = rows[0];
      if (id && (!one?.roll || (one.status && ENDED.has(one.status.state)))) return;
    }
  } finally {
    process.off('SIGINT', interrupt);
  }
}

export function registerRollStatus(roll: Command, ctx: CliContext): void {
  withStoreFlags(
    roll
      .command('status')
      .description('Show rolling updates and their progress (all, or one by id)')
      .argument('[id]', 'update id (= new RC id)')
      .option(
        '--watch',
        'print again on every change (one JSON document per line with --json, a YAML document each with -o yaml); with an id, until it ends',
      )
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const { rows, controller } = await withStore(ctx, options, async (store) => {
        const rows = await inspectRolls(store, id);
        if (id && rows.length === 0)
          throw new CliExit(ExitCode.NOT_FOUND, `error: no rolling update ${id}`);
        const live =
          id && rows[0]?.roll ? await checkController(ctx, store, 'roll', id) : undefined;
        if (options.watch) await watchRolls(ctx, store, id, options);
        return { rows, controller: live };
      });
      if (options.watch) return;
      emit(ctx.io, options, id ? { ...rows[0], ...(controller ? { controller } : {}) } : rows, () =>
        render(ctx, rows),
      );
    }),
  );
}
