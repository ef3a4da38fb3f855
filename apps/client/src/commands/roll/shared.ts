/** What `p2 roll start` and `p2 roll run` share: the update's flags, its request, progress lines. */
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { type CliContext, CliExit, durationMs, ExitCode, wholeNumber } from '@p2/cli-kit';
import { checkMetricGate } from '@p2/health';
import type { MetricGate, RollStatus } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { type CreateRollRequest, rollRefusals } from '@p2/roll';

/** The flags {@link withRollFlags} adds. */
export interface RollFlagOptions {
  old: string;
  new: string;
  desired: string;
  minimum: string;
  strategy: string;
  maxSurge?: string;
  maxUnavailable?: string;
  deadline?: string;
  rollback?: true;
  leaveOld?: true;
  delay?: string;
  force?: true;
  gate?: string;
  gatePath: string;
  soak: string;
}

/** Adds the flags that describe one rolling update (P2's p2-rctl -o/-n/-d/-m, and ours). */
export function withRollFlags<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(command: Command<Args, Opts, Globals>): Command<Args, Opts & RollFlagOptions, Globals> {
  // Declared, not inferred (as cli-kit's withStoreFlags): a long generic chain costs tsc time.
  (command as unknown as Command)
    .requiredOption('--old <rc>', 'RC being replaced')
    .requiredOption('--new <rc>', 'RC replacing it (also the update id)')
    .requiredOption('-d, --desired <n>', 'replicas the new RC ends with')
    .requiredOption('--minimum <n>', 'healthy replicas to keep throughout')
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
      '--gate <expr>',
      "hold each new replica to a metric gate its preparer checks, e.g. 'errors_total / requests_total < 0.05'",
    )
    .option(
      '--gate-path <path>',
      "with --gate: the path of the pod's metrics on its status port",
      '/metrics',
    )
    .option('--soak <duration>', 'with --gate: how long the gate must hold', '30s')
    .option('--force', 'start even when the update cannot keep its promise (see the refusal)');
  return command as unknown as Command<Args, Opts & RollFlagOptions, Globals>;
}

/** The update the flags describe. @throws CliExit `USAGE` for a bad strategy, number or duration */
export function rollRequest(ctx: CliContext, options: RollFlagOptions): CreateRollRequest {
  if (options.strategy !== 'surge' && options.strategy !== 'unavailable') {
    throw new CliExit(
      ExitCode.USAGE,
      `error: --strategy must be surge or unavailable, got ${JSON.stringify(options.strategy)}`,
    );
  }
  return {
    oldRc: options.old,
    newRc: options.new,
    desiredReplicas: wholeNumber(options.desired, '--desired'),
    minimumReplicas: wholeNumber(options.minimum, '--minimum'),
    strategy: options.strategy,
    autoRollback: Boolean(options.rollback),
    leaveOld: Boolean(options.leaveOld),
    deployer: ctx.env.USER ?? '',
    ...(options.maxSurge ? { maxSurge: wholeNumber(options.maxSurge, '--max-surge') } : {}),
    ...(options.maxUnavailable
      ? { maxUnavailable: wholeNumber(options.maxUnavailable, '--max-unavailable') }
      : {}),
    ...(options.deadline ? { progressDeadlineMs: durationMs(options.deadline, '--deadline') } : {}),
    ...(options.delay ? { rollDelayMs: durationMs(options.delay, '--delay') } : {}),
    ...(options.gate ? { metricGate: metricGate(options) } : {}),
  };
}

function metricGate(options: RollFlagOptions): MetricGate {
  const gate = {
    expr: options.gate ?? '',
    path: options.gatePath,
    soakMs: durationMs(options.soak, '--soak'),
  };
  try {
    checkMetricGate(gate);
  } catch (error) {
    const hint = (error as { hint?: string }).hint;
    throw new CliExit(
      ExitCode.USAGE,
      `error: --gate: ${(error as Error).message}${hint ? `\nhint: ${hint}` : ''}`,
    );
  }
  return gate;
}

/** One progress line: healthy replicas of the new RC toward the target. */
export function progressLine(s: RollStatus, target: number): string {
  const counts = s.new
    ? `new ${s.new.healthy}/${target} healthy (${s.new.current} scheduled), old ${s.old?.healthy ?? 0} healthy`
    : `new 0/${target} healthy`;
  return `${s.state}: ${counts}${s.message ? ` — ${s.message}` : ''}`;
}

/**
 * Refuses (exit 3, with the reasons) an update that cannot keep its promise — `@p2/roll`'s
 * rollRefusals — unless `--force`.
 */
export async function refuseBrokenPromise(
  store: Store,
  request: CreateRollRequest,
  options: RollFlagOptions,
): Promise<void> {
  if (options.force) return;
  const reasons = await rollRefusals(store, request);
  if (reasons.length === 0) return;
  throw new CliExit(
    ExitCode.INVALID_INPUT,
    `error: rolling update ${request.oldRc} → ${request.newRc} refused: ${reasons.join('; ')}\nhint: pass --force to start it anyway`,
  );
}
