/** `-o, --output json|yaml|wide` on every command that has `--json`. */
import { type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import { CliExit, ExitCode } from './exit-code.js';
import { OUTPUT_FORMATS, type OutputOptions } from './output.js';
import { type CliContext, runHook } from './run.js';

function* commands(root: CommandUnknownOpts): Generator<CommandUnknownOpts> {
  yield root;
  for (const sub of root.commands) yield* commands(sub as CommandUnknownOpts);
}

/**
 * Gives every command of `program` that has `--json` an `-o, --output <format>` option as kubectl
 * has it: `json` (the same as `--json`), `yaml` (the same data as YAML; errors stay JSON, which YAML
 * reads too) or `wide` (the table with its extra columns). Call it once the tree is built.
 *
 * @throws CliExit {@link ExitCode.USAGE}, when the command runs, for `--json` with `-o wide`/`-o yaml`
 * @example withOutputFormats(program, ctx) // then `p2 inspect -o yaml`
 */
export function withOutputFormats(program: CommandUnknownOpts, ctx: CliContext): void {
  for (const command of commands(program)) {
    const names = command.options.map((option) => option.long);
    if (!names.includes('--json') || names.includes('--output')) continue;
    command.addOption(
      new Option(
        '-o, --output <format>',
        'json (as --json), yaml, or wide (the table with more columns)',
      ).choices(OUTPUT_FORMATS),
    );
  }
  program.hook(
    'preAction',
    runHook(ctx, async (_program, action) => {
      const options = action.opts() as OutputOptions;
      if (options.output === undefined) return;
      if (options.json && options.output !== 'json')
        throw new CliExit(
          ExitCode.USAGE,
          `error: --json and -o ${options.output} ask for two outputs\nhint: pass one of them`,
        );
      // Everything that checks --json (errors, progress on stderr) treats YAML as a machine format too.
      if (options.output !== 'wide') action.setOptionValue('json', true);
    }),
  );
}
