/** Running a command body with one error path. */
import type { Command } from '@commander-js/extra-typings';
import { ExitCode, exitCodeFor } from './exit-code.js';
import { type Io, type OutputOptions, reportError } from './output.js';

/** What a command runs in: where it writes, its working directory and environment. */
export interface CliContext {
  io: Io;
  /** Sets the process exit code (tests read it instead). */
  setExitCode: (code: number) => void;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/**
 * A command's action: `body` gets commander's arguments (the positional ones, then the options); a
 * body that returns no exit code succeeded, and any error it throws is reported once (human or
 * JSON, see {@link reportError}) and mapped to an exit code: a {@link CliExit}'s own, else
 * `errorExitCode` when given, else {@link exitCodeFor}'s.
 *
 * @example command.action(run(ctx, async (id, options) => { … }))
 */
export function run<Args extends unknown[]>(
  ctx: CliContext,
  body: (...args: Args) => Promise<ExitCode | undefined> | Promise<void>,
  errorExitCode?: ExitCode,
): (...args: Args) => Promise<void> {
  return async (...args) => {
    const options: OutputOptions = (args.at(-1) as Command).opts();
    try {
      ctx.setExitCode((await body(...(args as Args))) ?? ExitCode.OK);
    } catch (error) {
      ctx.setExitCode(reportError(ctx.io, options, error, errorExitCode ?? exitCodeFor(error)));
    }
  };
}
