/**
 * `--wait [--timeout D]` of `p2 schedule` and `p2 unschedule` (one pod, `@p2/inspect`'s
 * waitForPod) and of `p2 rc` and `p2 ds` writes (every pod the controller wants, waitForController):
 * a line redrawn in place on a TTY, one line per change when piped — and the end as an exit code:
 * 0 reached, 1 a preparer says failed / invalid / unauthorized (its reason is printed), 6 (TIMEOUT)
 * the timeout passed.
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
import {
  type ControllerGoal,
  type PodGoal,
  type PodWaitEnd,
  waitForController,
  waitForPod,
} from '@p2/inspect';

/** The flags {@link withWaitFlags} adds. */
export type WaitFlagOptions = {
  wait?: true;
  timeout?: string;
};

/** The flags {@link withWaitFlags} adds with `timeoutFlag` `--wait-timeout` (`p2 ds`, whose `--timeout` is P2's). */
export type WaitTimeoutFlagOptions = {
  wait?: true;
  waitTimeout?: string;
};

const WAIT_HELP = 'exit 1 if a preparer reports failed/invalid/unauthorized, 6 on timeout';

/** Adds `--wait` (described by `what`) and the timeout flag `timeoutFlag` to `command`. */
function addWaitFlags(command: unknown, what: string, timeoutFlag: string): void {
  (command as Command)
    .option('--wait', `${what}; ${WAIT_HELP}`)
    .option(
      `${timeoutFlag} <duration>`,
      'give up waiting after this long (e.g. 2m; implies --wait; default: never)',
    );
}

/** Adds `--wait` (described by `what`) and `--timeout`. */
export function withWaitFlags<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(
  command: Command<Args, Opts, Globals>,
  what: string,
): Command<Args, Opts & WaitFlagOptions, Globals> {
  addWaitFlags(command, what, '--timeout');
  return command as unknown as Command<Args, Opts & WaitFlagOptions, Globals>;
}

/** {@link withWaitFlags} with `--wait-timeout` (for commands whose `--timeout` means something else). */
export function withWaitTimeoutFlags<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(
  command: Command<Args, Opts, Globals>,
  what: string,
): Command<Args, Opts & WaitTimeoutFlagOptions, Globals> {
  addWaitFlags(command, what, '--wait-timeout');
  return command as unknown as Command<Args, Opts & WaitTimeoutFlagOptions, Globals>;
}

/**
 * What `--wait --timeout` asked for (`--timeout` alone implies `--wait`); check it before writing.
 * For {@link withWaitTimeoutFlags}: `waitRequest({ wait, timeout: waitTimeout }, '--wait-timeout')`.
 */
export function waitRequest(
  options: WaitFlagOptions,
  flag = '--timeout',
): { timeoutMs?: number } | undefined {
  if (!options.wait && !options.timeout) return undefined;
  return options.timeout ? { timeoutMs: durationMs(options.timeout, flag) } : {};
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
  return follow(ctx, options, (onChange) =>
    withStore(ctx, options, (store) => waitForPod(store, goal, { ...request, onChange })),
  );
}

/**
 * `--wait` of `p2 rc` and `p2 ds` commands: waits until every pod the controller wants runs its
 * manifest ({@link waitForController}), as {@link waitIfAsked} does for one pod.
 */
export async function waitForControllerIfAsked(
  ctx: CliContext,
  options: StoreFlags & { json?: true },
  request: { timeoutMs?: number } | undefined,
  goal: ControllerGoal,
): Promise<void> {
  if (!request) return;
  await follow(ctx, options, (onChange) =>
    withStore(ctx, options, (store) => waitForController(store, goal, { ...request, onChange })),
  );
}

/** Shows a wait's progress — a live line on a TTY, a line per change when piped — and maps its end. */
async function follow<End extends { outcome: PodWaitEnd['outcome']; message: string }>(
  ctx: CliContext,
  options: { json?: true },
  wait: (onChange: (text: string) => void) => Promise<End>,
): Promise<End> {
  const line = ctx.io.isTTY && !options.json ? liveLine((t) => ctx.io.stderr(t)) : undefined;
  const end = await wait((text) => {
    if (line) line.draw(text);
    else if (!options.json) ctx.io.stderr(`${text}\n`);
  });
  line?.done();
  if (end.outcome === 'ok') return end;
  throw new CliExit(
    end.outcome === 'timeout' ? ExitCode.TIMEOUT : ExitCode.FAILURE,
    `error: ${end.message}`,
  );
}
