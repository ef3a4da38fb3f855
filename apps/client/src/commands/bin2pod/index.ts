/** `p2 bin2pod EXECUTABLE --id POD` — wrap an executable into a Hoist artifact and a manifest (P2's p2-bin2pod). */

import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  collect,
  ExitCode,
  emit,
  parseAssignments,
  readInputFile,
  run,
  style,
} from '@p2/cli-kit';
import { bin2pod } from '@p2/hoist';
import { ManifestError } from '@p2/manifest';

export function registerBin2PodCommand(program: Command, ctx: CliContext): void {
  program
    .command('bin2pod')
    .description(
      'Wrap an executable into a Hoist artifact (bin/launch) and a pod manifest (P2: p2-bin2pod)',
    )
    .argument('<executable>', 'the program the pod runs')
    .option('--id <pod>', 'pod id (default: the executable name)')
    .option('--port <n>', 'health check port (status http on <n>, and config.port)')
    .option(
      '--location <url>',
      'artifact URL for the manifest; {} stands for the tarball name (default: file://…)',
    )
    .option(
      '--work-dir <dir>',
      'where to write the tarball and manifest (default: current directory)',
    )
    .option('--config <key=value>', 'config entry (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (executable, options) => {
        await readInputFile(ctx, executable);
        const port = options.port === undefined ? undefined : Number(options.port);
        if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
          throw new CliExit(
            ExitCode.USAGE,
            `error: --port must be a TCP port (1-65535), got ${options.port}`,
          );
        }
        let result: Awaited<ReturnType<typeof bin2pod>>;
        try {
          result = await bin2pod({
            executable: resolve(ctx.cwd, executable),
            workDir: resolve(ctx.cwd, options.workDir ?? '.'),
            config: parseAssignments(options.config, 'a config entry'),
            ...(options.id ? { id: options.id } : {}),
            ...(options.location ? { location: options.location } : {}),
            ...(port ? { port } : {}),
          });
        } catch (error) {
          if (error instanceof CliExit || error instanceof ManifestError) throw error;
          throw new CliExit(
            ExitCode.INVALID_INPUT,
            `error: cannot build a pod from ${executable}: ${(error as Error).message}`,
          );
        }
        emit(ctx.io, options, result, (r) =>
          [
            `${style.green(ctx.io, 'artifact')} ${r.tar_path}`,
            `${style.green(ctx.io, 'manifest')} ${r.manifest_path}`,
            `location ${r.final_location}`,
          ].join('\n'),
        );
      }),
    );
}
