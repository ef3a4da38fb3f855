/**
 * `p2 roll start|status|pause|resume|cancel` — rolling updates from one replication controller to
 * another over `@p2/roll`'s roll store (P2's p2-rctl schedule-update); the roll farm acts on them.
 * `p2 roll run` (./run.ts) runs one in this process instead (P2's p2-rctl rolling-update).
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
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { Prefix } from '@p2/keyspace';
import { RollStore, waitForRoll } from '@p2/roll';
import { resolveIdsOf } from '../../lib/id-prefix.js';
import { checkController } from '../../lib/liveness.js';
import { prestageRoll } from './prestage.js';
import { registerRollRun } from './run.js';
import { progressLine, refuseBrokenPromise, rollRequest, withRollFlags } from './shared.js';
import { registerRollStatus } from './status.js';

export function registerRollCommand(program: Command, ctx: CliContext): void {
  const roll = program.command('roll').description('Rolling updates from one RC to another');
  resolveIdsOf(roll, ctx, Prefix.rolls, {
    old: Prefix.replicationControllers,
    new: Prefix.replicationControllers,
  });

  withStoreFlags(
    withRollFlags(
      roll
        .command('start')
        .description('Schedule a rolling update for the roll farm (P2: p2-rctl schedule-update)'),
    )
      .option(
        '--wait',
        'follow the update until it ends; exit non-zero if it fails, rolls back or is cancelled',
      )
      .option('--poll <duration>', 'with --wait: how often to read its status', '1s')
      .option(
        '--prestage',
        "first download the new RC's artifacts on every node of the old RC (waits for all)",
      )
      .option('--prestage-timeout <duration>', 'with --prestage: longest wait for a node', '10m')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const request = rollRequest(ctx, options);
      const prestageMs = durationMs(options.prestageTimeout, '--prestage-timeout');
      const { created, controller } = await withStore(ctx, options, async (store) => {
        await refuseBrokenPromise(store, request, options);
        if (options.prestage)
          await prestageRoll(ctx, store, request, {
            timeoutMs: prestageMs,
            json: Boolean(options.json),
          });
        const created = await new RollStore(store).create(request);
        return {
          created,
          controller: await checkController(ctx, store, 'roll', created.newRc, {
            justCreated: true,
          }),
        };
      });
      const scheduled = `${style.green(ctx.io, 'scheduled')} rolling update ${created.oldRc} → ${created.newRc} (${created.desiredReplicas} desired, ≥ ${created.minimumReplicas} healthy, ${created.strategy})`;
      if (!options.wait) {
        emit(ctx.io, options, { ...created, controller }, () => scheduled);
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
  registerRollRun(roll, ctx);

  registerRollStatus(roll, ctx);

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
