/**
 * Builds the `p2` program. Each command lives in `src/commands/<name>/` and registers itself here;
 * the binary (`cli.ts`) only parses argv.
 */

import { createRequire } from 'node:module';
import { Command, type CommandUnknownOpts, Help } from '@commander-js/extra-typings';
import { type CliContext, runProgram, withOutputFormats } from '@p2/cli-kit';
import { registerBin2PodCommand } from './commands/bin2pod/index.js';
import { registerCgroupInfoCommand } from './commands/cgroup-info/index.js';
import { registerCompletionCommand } from './commands/completion/index.js';
import { registerContextCommand } from './commands/context/index.js';
import { registerDescribeCommand } from './commands/describe/index.js';
import { registerDsCommand } from './commands/ds/index.js';
import { registerExecCommand } from './commands/exec/index.js';
import { registerHistoryCommand } from './commands/history/index.js';
import { registerHooksCommand } from './commands/hooks/index.js';
import { registerInspectCommand } from './commands/inspect/index.js';
import { registerKeyringCommand } from './commands/keyring/index.js';
import { registerKvCommand } from './commands/kv/index.js';
import { registerLabelCommand } from './commands/label/index.js';
import { registerLaunchCommand } from './commands/launch/index.js';
import { registerLogBridgeCommand } from './commands/log-bridge/index.js';
import { registerLogsCommand } from './commands/logs/index.js';
import { registerManifestCommand } from './commands/manifest/index.js';
import { registerNodesCommand } from './commands/nodes/index.js';
import { registerPcCommand } from './commands/pc/index.js';
import { registerPlanCommand } from './commands/plan/index.js';
import { registerPodControlCommands } from './commands/pod-control/index.js';
import { registerPrestageCommand } from './commands/prestage/index.js';
import { registerRcCommand } from './commands/rc/index.js';
import { registerReplicateCommand } from './commands/replicate/index.js';
import { registerRollCommand } from './commands/roll/index.js';
import { registerRollbackCommand } from './commands/rollback/index.js';
import { registerScheduleCommand } from './commands/schedule/index.js';
import { registerSignCommand } from './commands/sign/index.js';
import { registerTraceCommand } from './commands/trace/index.js';
import { registerUiCommand } from './commands/ui/index.js';
import { registerUnscheduleCommand } from './commands/unschedule/index.js';
import { registerVerifyCommand } from './commands/verify/index.js';
import { registerVerifyArtifactCommand } from './commands/verify-artifact/index.js';
import { registerWatchCommand } from './commands/watch/index.js';
import { registerWipeRealityCommand } from './commands/wipe-reality/index.js';

/**
 * The client package's version. `src/program.ts` and the bundled `dist/cli.js` both sit one
 * directory below the package's `package.json`, which npm always ships.
 */
/** Set by tsup at build time (a bundle may run away from its package.json). */
declare const __P2_PACKAGE_VERSION__: string | undefined;

const VERSION =
  typeof __P2_PACKAGE_VERSION__ === 'string'
    ? __P2_PACKAGE_VERSION__
    : (createRequire(import.meta.url)('../package.json') as { version: string }).version;

export function buildProgram(ctx: CliContext): CommandUnknownOpts {
  const program = new Command('p2')
    .description('Deploy and inspect pods on hosts run by p2-preparer.')
    .version(VERSION, '-V, --version', "print p2's version")
    .showHelpAfterError('(run with --help for usage)')
    // `p2 log-bridge … EXEC -x` leaves EXEC's options to EXEC.
    .enablePositionalOptions()
    // Inherited by every command made with `.command()`: a required option says so in `--help`.
    .configureHelp({
      optionDescription: (option) => {
        const text = Help.prototype.optionDescription.call(new Help(), option);
        return option.mandatory ? `${text} (required)` : text;
      },
    })
    .configureOutput({ writeOut: (s) => ctx.io.stdout(s), writeErr: (s) => ctx.io.stderr(s) })
    .exitOverride();
  // Registration order is the order `p2 --help` lists the commands in.
  registerScheduleCommand(program, ctx);
  registerUnscheduleCommand(program, ctx);
  registerInspectCommand(program, ctx);
  registerWatchCommand(program, ctx);
  registerUiCommand(program, ctx);
  registerNodesCommand(program, ctx);
  registerDescribeCommand(program, ctx);
  registerHistoryCommand(program, ctx);
  registerTraceCommand(program, ctx);
  registerRollbackCommand(program, ctx);
  registerLogsCommand(program, ctx);
  registerPlanCommand(program, ctx);
  registerLabelCommand(program, ctx);
  registerManifestCommand(program, ctx);
  registerSignCommand(program, ctx);
  registerVerifyCommand(program, ctx);
  registerVerifyArtifactCommand(program, ctx);
  registerKeyringCommand(program, ctx);
  registerBin2PodCommand(program, ctx);
  registerLaunchCommand(program, ctx);
  registerPodControlCommands(program, ctx);
  registerExecCommand(program, ctx);
  registerHooksCommand(program, ctx);
  registerCgroupInfoCommand(program, ctx);
  registerLogBridgeCommand(program, ctx);
  registerWipeRealityCommand(program, ctx);
  registerKvCommand(program, ctx);
  registerRcCommand(program, ctx);
  registerRollCommand(program, ctx);
  registerReplicateCommand(program, ctx);
  registerPrestageCommand(program, ctx);
  registerDsCommand(program, ctx);
  registerPcCommand(program, ctx);
  registerContextCommand(program, ctx);
  registerCompletionCommand(program, ctx);
  withOutputFormats(program, ctx);
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export function runCli(argv: string[], overrides: Partial<CliContext> = {}): Promise<number> {
  return runProgram(buildProgram, argv, overrides);
}
