/**
 * `p2 roll run` — P2's p2-rctl rolling-update: creates the update as `p2 roll start` does, then runs
 * it in this process under the roll farm's own claim (`lock/rolls/<id>`), so a farm and this run
 * never both drive it. Ctrl-C stops the run; the update stays for a farm or a later run.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  durationMs,
  ExitCode,
  emit,
  liveLine,
  run,
  style,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import type { RollRecord, RollStatus } from '@p2/keyspace';
import { type RollOutcome, RollStore, runClaimedRollingUpdate } from '@p2/roll';
import { prestageRoll } from './prestage.js';
import { progressLine, refuseBrokenPromise, rollRequest, withRollFlags } from './shared.js';

/** What `p2 roll run --json` prints. */
interface RunReport {
  readonly outcome: RollOutcome;
  /** With `locked`: the session holding the update's claim (a roll farm's, or another run's). */
  readonly holder?: string;
  readonly resumed: boolean;
  readonly roll: RollRecord;
  /** The status record as the run left it. */
  readonly status?: RollStatus;
}

export function registerRollRun(roll: Command, ctx: CliContext): void {
  withStoreFlags(
    withRollFlags(
      roll
        .command('run')
        .description(
          'Run a rolling update in this process, not on the roll farm (P2: p2-rctl rolling-update)',
        ),
    )
      .option('--poll <duration>', 'how often to re-read counts and health', '1s')
      .option(
        '--prestage',
        "first download the new RC's artifacts on every node of the old RC (waits for all)",
      )
      .option('--prestage-timeout <duration>', 'with --prestage: longest wait for a node', '10m')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const request = rollRequest(ctx, options);
      if (request.desiredReplicas < request.minimumReplicas) {
        throw new CliExit(
          ExitCode.USAGE,
          `error: --desired (${request.desiredReplicas}) must be at least --minimum (${request.minimumReplicas})`,
        );
      }
      const pollMs = durationMs(options.poll, '--poll');
      const prestageMs = durationMs(options.prestageTimeout, '--prestage-timeout');
      const report = await withStore(ctx, options, async (store): Promise<RunReport> => {
        const rolls = new RollStore(store);
        // The same update left by an interrupted run (or scheduled earlier) is resumed as it is.
        const existing = (await rolls.get(request.newRc))?.roll;
        const resumed = existing?.oldRc === request.oldRc;
        if (!(existing && resumed)) {
          await refuseBrokenPromise(store, request, options);
          if (options.prestage)
            await prestageRoll(ctx, store, request, {
              timeoutMs: prestageMs,
              json: Boolean(options.json),
            });
        }
        const ru = existing && resumed ? existing : await rolls.create(request);
        if (!options.json) ctx.io.stdout(`${headline(ctx, ru, resumed)}\n`);
        const line = ctx.io.isTTY && !options.json ? liveLine(ctx.io.stdout) : undefined;
        const stop = new AbortController();
        const interrupt = () => stop.abort();
        process.once('SIGINT', interrupt);
        process.once('SIGTERM', interrupt);
        try {
          const { outcome, holder } = await runClaimedRollingUpdate({ store }, ru.newRc, {
            pollMs,
            signal: stop.signal,
            onStatus: (s) => {
              if (options.json) return;
              const text = progressLine(s, ru.desiredReplicas);
              if (line) line.draw(text);
              else ctx.io.stdout(`${text}\n`);
            },
          });
          const status = await rolls.status(ru.newRc);
          return {
            outcome,
            ...(holder ? { holder } : {}),
            resumed,
            roll: ru,
            ...(status ? { status } : {}),
          };
        } finally {
          line?.done();
          process.off('SIGINT', interrupt);
          process.off('SIGTERM', interrupt);
        }
      });
      emit(ctx.io, options, report, (r) => ending(ctx, r));
      return report.outcome === 'succeeded' ? ExitCode.OK : ExitCode.FAILURE;
    }),
  );
}

function headline(ctx: CliContext, ru: RollRecord, resumed: boolean): string {
  const verb = resumed ? 'resuming' : 'running';
  return `${style.green(ctx.io, verb)} rolling update ${ru.oldRc} → ${ru.newRc} (${ru.desiredReplicas} desired, ≥ ${ru.minimumReplicas} healthy, ${ru.strategy})`;
}

/** The last line(s): how the run ended and, when it did not finish, what happens to the update. */
function ending(ctx: CliContext, r: RunReport): string {
  const id = r.roll.newRc;
  switch (r.outcome) {
    case 'succeeded':
      return style.green(ctx.io, `rolling update ${id} succeeded`);
    case 'locked':
      return `${style.red(ctx.io, `rolling update ${id} is locked`)}: ${
        r.holder
          ? `${r.holder} is running it`
          : 'a roll farm or another run holds it or one of its RCs'
      }; nothing was changed\nhint: follow it with \`p2 roll status ${id}\``;
    case 'interrupted':
      return `${style.red(ctx.io, `rolling update ${id} interrupted`)}: the run stopped after its current pass and released its locks; the update stays in the store at its last step (state ${r.status?.state ?? 'pending'})\nhint: a roll farm (p2-controllers) resumes it, as does \`p2 roll run\` again with the same --old and --new; \`p2 roll cancel ${id}\` drops it and leaves the replicas where they are`;
    default:
      return `${style.red(ctx.io, `rolling update ${id} ${r.outcome.replace('_', ' ')}`)}${
        r.status?.message ? `: ${r.status.message}` : ''
      }`;
  }
}
