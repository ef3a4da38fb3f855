/**
 * `p2-inspect [--node N] [--pod P] [--format tree|list]` (spec 03 §6.1): intent, reality and
 * health of legacy pods joined by `@p2/inspect`, printed as P2's JSON — `tree` (default)
 * `{pod_id: {node: status}}`, `list` an array of status objects that also carry `node` and `pod` —
 * followed by a newline. Records that cannot be read are named on stderr.
 */
import { Option } from '@commander-js/extra-typings';
import { type CliContext, run } from '@p2/cli-kit';
import { goJson } from '@p2/go';
import { inspectStore, p2InspectList, p2InspectTree } from '@p2/inspect';
import { warn } from '../../run.js';
import { storeProgram, withP2Store } from '../../store-flags.js';

export function buildInspect(ctx: CliContext) {
  const program = storeProgram(
    'p2-inspect',
    "Print intent, reality and health of legacy pods as P2's JSON (P2's p2-inspect)",
    ctx,
  )
    .option('--node <node>', 'only this node')
    .option('--pod <pod>', 'only this pod id')
    .addOption(
      new Option('--format <format>', 'tree: {pod: {node: status}}; list: [status + node, pod]')
        .choices(['tree', 'list'] as const)
        .default('tree' as const),
    );
  program.action(
    run(ctx, async (options) => {
      const inspection = await withP2Store(ctx, options, 'none', (store) =>
        inspectStore(store, {
          ...(options.node ? { node: options.node } : {}),
          ...(options.pod ? { pod: options.pod } : {}),
          launchables: true,
        }),
      );
      for (const problem of inspection.problems)
        warn(ctx, `unreadable ${problem.key}: ${problem.error}`);
      const body =
        options.format === 'list' ? p2InspectList(inspection) : p2InspectTree(inspection);
      ctx.io.stdout(`${goJson(body)}\n`);
    }),
  );
  return program;
}
