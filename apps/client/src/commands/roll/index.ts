/**
 * `p2 roll start|status|pause|resume|cancel` — rolling updates from one replication controller to
 * another over `@p2/rc`'s roll store (P2's p2-rctl schedule-update); the roll farm acts on them.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  durationMs,
  ExitCode,
  emit,
  run,
  style,
  table,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { inspectRolls } from '@p2/inspect';
import type { RollStatus } from '@p2/keyspace';
import { RollStore, waitForRoll } from '@p2/roll';

/** One line of `roll start --wait` progress: healthy replicas of the new RC toward the target. */
function progressLine(s: RollStatus, target: number): string {
  const counts = s.new
    ? `new ${s.new.healthy}/${target} healthy (${s.new.current} scheduled), old ${s.old?.healthy ?? 0} healthy`
    : `new 0/${target} healthy`;
  return `${s.state}: ${counts}${s.message ? ` — ${s.message}` : ''}`;
}

export function registerRollCommand(program: Command, ctx: CliContext): void {
  const roll = program.command('roll').description('Rolling updates from one RC to another');

  withStoreFlags(
    roll
      .command('start')
      .description('Schedule a rolling update for the roll farm (P2: p2-rctl schedule-update)')
      .requiredOption('-o, --old <rc>', 'RC being replaced')
      .requiredOption('-n, --new <rc>', 'RC replacing it (also the update id)')
      .requiredOption('-d, --desired <n>', 'replicas the new RC ends with')
      .requiredOption('-m, --minimum <n>', 'healthy replicas to keep throughout')
      .option(
        '--strategy <s>',
        'unavailable (old before new, as P2) or surge (new before old)',
        'unavailable',
      )
      .option('--max-surge <n>', 'with surge: replicas above the target at once')
      .option(
        '--max-unavailable <n>',
        'with unavailable: replicas one step may take away (0 = only min limits)',
      )
      .option(
        '--deadline <duration>',
        'fail when no new replica becomes healthy for this long (e.g. 5m)',
      )
      .option('--rollback', 'move the replicas back to the old RC when the update fails')
      .option('--leave-old', 'keep the old RC (disabled) at the end')
      .option('--delay <duration>', 'pause between steps')
      .option(
        '--wait',
        'follow the update until it ends; exit non-zero if it fails, rolls back or is cancelled',
      )
      .option('--poll <duration>', 'with --wait: how often to read its status', '1s')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      if (options.strategy !== 'surge' && options.strategy !== 'unavailable') {
        throw new CliExit(
          ExitCode.USAGE,
          `error: --strategy must be surge or unavailable, got ${JSON.stringify(options.strategy)}`,
        );
      }
      const created = await withStore(ctx, options, (store) =>
        new RollStore(store).create({
          oldRc: options.old,
          newRc: options.new,
          desiredReplicas: wholeNumber(options.desired, '--desired'),
          minimumReplicas: wholeNumber(options.minimum, '--minimum'),
          strategy: options.strategy as 'surge' | 'unavailable',
          autoRollback: Boolean(options.rollback),
          leaveOld: Boolean(options.leaveOld),
          deployer: ctx.env.USER ?? '',
          ...(options.maxSurge ? { maxSurge: wholeNumber(options.maxSurge, '--max-surge') } : {}),
          ...(options.maxUnavailable
            ? { maxUnavailable: wholeNumber(options.maxUnavailable, '--max-unavailable') }
            : {}),
          ...(options.deadline
            ? { progressDeadlineMs: durationMs(options.deadline, '--deadline') }
            : {}),
          ...(options.delay ? { rollDelayMs: durationMs(options.delay, '--delay') } : {}),
        }),
      );
      const scheduled = `${style.green(ctx.io, 'scheduled')} rolling update ${created.oldRc} → ${created.newRc} (${created.desiredReplicas} desired, ≥ ${created.minimumReplicas} healthy, ${created.strategy})`;
      if (!options.wait) {
        emit(ctx.io, options, created, () => scheduled);
        return;
      }
      if (!options.json) ctx.io.stdout(`${scheduled}\n`);
      const pollMs = durationMs(options.poll, '--poll');
      const end = await withStore(ctx, options, (store) =>
        waitForRoll(store, created.newRc, {
          pollMs,
          onStatus: (s) => {
            if (!options.json) ctx.io.stdout(`${progressLine(s, created.desiredReplicas)}\n`);
          },
        }),
      );
      emit(ctx.io, options, { roll: created, ...end }, (r) =>
        r.state === 'succeeded'
          ? style.green(ctx.io, `rolling update ${r.roll.newRc} succeeded`)
          : style.red(ctx.io, `rolling update ${r.roll.newRc} ${r.state.replace('_', ' ')}`),
      );
      return end.state === 'succeeded' ? ExitCode.OK : ExitCode.FAILURE;
    }),
  );

  withStoreFlags(
    roll
      .command('status')
      .description('Show rolling updates and their progress (all, or one by id)')
      .argument('[id]', 'update id (= new RC id)')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const rows = await withStore(ctx, options, (store) => inspectRolls(store, id));
      if (id && rows.length === 0)
        throw new CliExit(ExitCode.NOT_FOUND, `error: no rolling update ${id}`);
      const counts = (c?: { healthy: number; current: number; desired: number }) =>
        c ? `${c.healthy}/${c.current}/${c.desired}` : '-';
      emit(ctx.io, options, id ? rows[0] : rows, () =>
        rows.length === 0
          ? style.dim(ctx.io, 'no rolling updates')
          : table(
              ['ID', 'OLD', 'STATE', 'NEW H/C/D', 'OLD H/C/D', 'MESSAGE'],
              rows.map((r) => [
                r.id,
                r.roll?.oldRc ?? '-',
                r.status ? r.status.state : r.roll?.paused ? 'paused' : 'pending',
                counts(r.status?.new),
                counts(r.status?.old),
                r.status?.message ?? '',
              ]),
            ),
      );
    }),
  );

  for (const [name, description] of [
    ['pause', 'Stop making steps until resumed'],
    ['resume', 'Continue a paused update'],
    ['cancel', 'Delete the update; replicas stay where they are (as P2)'],
  ] as const) {
    withStoreFlags(
      roll
        .command(name)
        .description(description)
        .argument('<id>', 'update id (= new RC id)')
        .option('--json', 'print JSON'),
    ).action(
      run(ctx, async (id, options) => {
        await withStore(ctx, options, async (store) => {
          const rolls = new RollStore(store);
          if (!(await rolls.get(id)))
            throw new CliExit(ExitCode.NOT_FOUND, `error: no rolling update ${id}`);
          if (name === 'pause') await rolls.pause(id);
          else if (name === 'resume') await rolls.resume(id);
          else await rolls.cancel(id);
        });
        const done = name === 'pause' ? 'paused' : name === 'resume' ? 'resumed' : 'cancelled';
        emit(ctx.io, options, { id, state: done }, (r) => `${r.id}: ${r.state}`);
      }),
    );
  }
}
