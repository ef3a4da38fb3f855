/** Running a command body with one error path. */
import { type Command, CommanderError, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CliExit, ExitCode, exitCodeFor } from './exit-code.js';
import {
  asksForMachineOutput,
  cliExitJson,
  type Io,
  type OutputOptions,
  processIo,
  reportError,
} from './output.js';

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
 * body that returns no exit code succeeded (one that runs a program may return the program's), and any error it throws is reported once (human or
 * JSON, see {@link reportError}) and mapped to an exit code: a {@link CliExit}'s own, else
 * `errorExitCode` when given, else {@link exitCodeFor}'s.
 *
 * @example command.action(run(ctx, async (id, options) => { … }))
 */
export function run<Args extends unknown[]>(
  ctx: CliContext,
  body: (...args: Args) => Promise<ExitCode | number | undefined> | Promise<void>,
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

/** The CommanderError code {@link runHook} ends a program with (its error is already reported). */
const HOOK_FAILED = 'p2.hookFailed';

/**
 * Like {@link run}, for a commander `preAction` hook: an error is reported (with the action
 * command's `--json`) and ends the program with its exit code; the action does not run.
 *
 * @example group.hook('preAction', runHook(ctx, async (_group, action) => { … }))
 */
export function runHook(
  ctx: CliContext,
  body: (thisCommand: CommandUnknownOpts, actionCommand: CommandUnknownOpts) => Promise<void>,
): (thisCommand: CommandUnknownOpts, actionCommand: CommandUnknownOpts) => Promise<void> {
  return async (thisCommand, actionCommand) => {
    try {
      await body(thisCommand, actionCommand);
    } catch (error) {
      const options = actionCommand.opts() as OutputOptions;
      const code = reportError(ctx.io, options, error, exitCodeFor(error));
      ctx.setExitCode(code);
      throw new CommanderError(code, HOOK_FAILED, '');
    }
  };
}

/**
 * Runs a commander program with `argv` (without node and script) and returns the exit code: the one
 * its command set through {@link CliContext.setExitCode}, else 0 for `--help`/`--version` and
 * {@link ExitCode.USAGE} for an argument commander refused (told on stderr, and with `--json` also
 * as `{"error":{"code":"P2_CLI_USAGE",…}}` on stdout, as {@link reportError} does). `build` makes the program for the
 * context (with `exitOverride()`, so commander never exits the process itself); `overrides` replace
 * the process's io, cwd and env (tests).
 *
 * @example process.exitCode = await runProgram(buildProgram, process.argv.slice(2));
 */
export async function runProgram(
  build: (ctx: CliContext) => CommandUnknownOpts,
  argv: string[],
  overrides: Partial<CliContext> = {},
): Promise<number> {
  let exitCode: number = ExitCode.OK;
  const ctx: CliContext = {
    io: processIo,
    cwd: process.cwd(),
    env: process.env,
    ...overrides,
    setExitCode: (code) => {
      exitCode = code;
    },
  };
  try {
    await build(ctx).parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && error.code === HOOK_FAILED) return error.exitCode;
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return ExitCode.OK;
      // Commander has told people on stderr; with --json, scripts get it on stdout as well, as
      // every other failure under --json (reportError).
      const ownArgs = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
      if (asksForMachineOutput(ownArgs))
        ctx.io.stdout(cliExitJson(new CliExit(ExitCode.USAGE, error.message)));
      return ExitCode.USAGE;
    }
    throw error;
  }
  return exitCode;
}
