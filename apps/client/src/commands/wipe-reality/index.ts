/**
 * `p2 wipe-reality [--node N]` — delete every pod's reality on a node (P2: p2-wipe-reality NODE),
 * so its preparer checks every pod again: each pod that runs as intended has its reality recorded
 * anew, and each that does not is deployed again. Asks first on a terminal; scripts pass `--yes`.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  confirm,
  emit,
  nodeName,
  run,
  style,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { PodTree } from '@p2/keyspace';

export function registerWipeRealityCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('wipe-reality')
      .description(
        "Delete every pod's reality on a node, so its preparer checks and re-deploys them (P2: p2-wipe-reality)",
      )
      .option('--node <node>', 'the node (default: this host)')
      .option('--yes', 'do not ask (required when there is no terminal to ask on)')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const node = nodeName(options.node);
      const result = await withStore(ctx, options, async (store) => {
        const reality = new PodTree(store, 'reality');
        const present = await reality.nodeIds(node);
        if (present.length === 0) return { node, deleted: [] as string[] };
        await confirm(
          ctx.io,
          `delete the reality of ${present.length} pod(s) on node ${node}? Its preparer will check each again and re-deploy what does not run as intended.`,
          { yes: options.yes === true },
        );
        return { node, deleted: await reality.deleteNode(node) };
      });
      emit(ctx.io, options, result, (r) =>
        r.deleted.length === 0
          ? style.dim(ctx.io, `no reality recorded for node ${r.node}`)
          : [
              `${style.green(ctx.io, 'wiped')} the reality of ${r.deleted.length} pod(s) on ${r.node}; its preparer checks them again`,
              ...r.deleted.map((id) => `  ${id}`),
            ].join('\n'),
      );
    }),
  );
}
