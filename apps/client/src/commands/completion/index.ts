/**
 * `p2 completion bash|zsh|fish` — prints a shell completion script for p2's commands and long
 * flags, generated from the program itself (`@p2/cli-kit`'s `completionScript`).
 */
import { Argument, type Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  COMPLETION_SHELLS,
  type CompletionShell,
  completionScript,
  run,
} from '@p2/cli-kit';

export function registerCompletionCommand(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .description(
      'Print a shell completion script: source <(p2 completion bash), or p2 completion fish > ~/.config/fish/completions/p2.fish',
    )
    .addArgument(new Argument('<shell>', 'the shell').choices(COMPLETION_SHELLS))
    .action(
      run(ctx, async (shell) => {
        // Run after every command is registered, so the script has them all.
        ctx.io.stdout(completionScript(program, shell as CompletionShell));
      }),
    );
}
