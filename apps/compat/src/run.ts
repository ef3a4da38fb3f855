/**
 * What the five binaries share: a commander program set up like `p2`'s, and P2's exit codes — 0,
 * or 1 for any failure (usage errors included), as kingpin and logrus' `Fatal` left them.
 */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { type CliContext, CliExit, ExitCode, runProgram } from '@p2/cli-kit';

/** A binary's program: output through `ctx`, and commander never exits the process itself. */
export function compatProgram(name: string, description: string, ctx: CliContext) {
  return new Command(name)
    .description(description)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => ctx.io.stdout(s), writeErr: (s) => ctx.io.stderr(s) })
    .exitOverride();
}

/** Ends a command with P2's failure, exit 1 (`hint` is printed on a line of its own). */
export function fail(message: string, hint?: string): CliExit {
  return new CliExit(ExitCode.FAILURE, `error: ${message}${hint ? `\nhint: ${hint}` : ''}`);
}

/** Prints a warning on stderr: a P2 flag p2 accepts but does not act on, and why. */
export function warn(ctx: CliContext, message: string): void {
  ctx.io.stderr(`warning: ${message}\n`);
}

/**
 * Runs a binary's program with `argv` (without node and script) and returns P2's exit code: 0 on
 * success (and for `--help`), else 1.
 */
async function runCompat(
  build: (ctx: CliContext) => CommandUnknownOpts,
  argv: string[],
  overrides: Partial<CliContext> = {},
): Promise<number> {
  return (await runProgram(build, argv, overrides)) === ExitCode.OK ? 0 : 1;
}

/** A binary's whole `main`: runs `build` on the process's arguments and sets its exit code. */
export function main(build: (ctx: CliContext) => CommandUnknownOpts): void {
  runCompat(build, process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
