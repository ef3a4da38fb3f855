/**
 * `p2 cgroup-info [--json]` — the launchable cgroups of this host that have processes, in P2's
 * nested (`p2/<node>/<pod>/<launchable>`) and flat (`<pod>__<launchable>`) forms (P2:
 * p2-cgroup-info), through `@p2/cgroups`' `listLaunchableCgroups`.
 */
import type { Command } from '@commander-js/extra-typings';
import { detectCgroups, listLaunchableCgroups } from '@p2/cgroups';
import { type CliContext, emit, run, style, table } from '@p2/cli-kit';

export function registerCgroupInfoCommand(program: Command, ctx: CliContext): void {
  program
    .command('cgroup-info')
    .description(
      'List the launchable cgroups on this host that have processes (P2: p2-cgroup-info)',
    )
    .option('--parent <path>', 'where pod cgroups live below each hierarchy', '')
    .option('--json', "print P2's JSON ({launchables: [...]})")
    .action(
      run(ctx, async (options) => {
        const launchables = await listLaunchableCgroups(await detectCgroups(), {
          parent: options.parent,
        });
        emit(ctx.io, options, { launchables }, ({ launchables: rows }) =>
          rows.length === 0
            ? style.dim(ctx.io, 'no launchable cgroup has processes')
            : table(
                ['NODE', 'POD', 'LAUNCHABLE', 'CGROUP'],
                rows.map((r) => [r.node || '-', r.pod, r.launchable, r.cgroup]),
              ),
        );
      }),
    );
}
