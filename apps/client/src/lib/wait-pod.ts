/**
 * `--wait [--timeout D]` of `p2 schedule` and `p2 unschedule`: follows one pod with `@p2/inspect`'s
 * waitForPod — a line redrawn in place on a TTY, one line per change when piped — and turns the end
 * into an exit code: 0 reached, 1 the preparer says failed / invalid / unauthorized (its reason is
 * printed), 6 (TIMEOUT) the timeout passed.
 */
import type { Command, OptionValues } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  durationMs,
  ExitCode,
  liveLine,
  type StoreFlags,
  withStore,
} from '@p2/cli-kit';
import { type PodGoal, type PodWaitEnd, waitForPod } from '@p2/inspect';

/** The flags {@link withWaitFlags} adds. */
export type WaitFlagOptions = {
  wait?: true;
  timeout?: string;
};

/** Adds `--wait` (described by `what`) and `--timeout`. */
export function withWaitFlags<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(
  command: Command<Args, Opts, Globals>,
  what: string,
): Command<Args, Opts & WaitFlagOptions, Globals> {
  (command as unknown as Command)
    .option(
      '--wait',
      `${what}; exit 1 if the preparer reports failed/invalid/unauthorized, 6 on timeout`,
    )
    .option(
      '--timeout <duration>',
      'give up waiting after this long (e.g. 2m; implies --wait; default: never)',
    );
  return command as unknown as Command<Args, Opts & WaitFlagOptions, Globals>;
}

/** What `--wait --timeout` asked for (`--timeout` alone implies `--wait`); check it before writing. */
export function waitRequest(options: WaitFlagOptions): { timeoutMs?: number } | undefined {
  if (!options.wait && !options.timeout) return undefined;
  return options.timeout ? { timeoutMs: durationMs(options.timeout, '--timeout') } : {};
}

/**
 * Waits for `goal` when {@link waitRequest} asked for it (progress on stderr), and returns the end,
 * or throws a {@link CliExit} naming the reason when it was not reached.
 */
export async function waitIfAsked(
  ctx: CliContext,
  options: StoreFlags & { json?: true },
  request: { timeoutMs?: number } | undefined,
  goal: PodGoal,
): Promise<PodWaitEnd | undefined> {
  if (!request) return undefined;
  const { timeoutMs } = request;
  const line = ctx.io.isTTY && !options.json ? liveLine((t) => ctx.io.stderr(t)) : undefined;
  const end = await withStore(ctx, options, (store) =>
    waitForPod(store, goal, {
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      onChange: (text) => {
        if (line) line.draw(text);
        else if (!options.json) ctx.io.stderr(`${text}\n`);
      },
    }),
  );
  line?.done();
  if (end.outcome === 'ok') return end;
  throw new CliExit(
    end.outcome === 'timeout' ? ExitCode.TIMEOUT : ExitCode.FAILURE,
    `error: ${end.message}`,
  );
}
