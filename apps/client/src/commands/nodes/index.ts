/**
 * `p2 nodes` — the nodes the store knows (`@p2/inspect`'s listNodes): whether a preparer reports
 * there, labels, pod counts, verdicts and when its preparer last wrote. `p2 schedule --node` uses
 * {@link assertKnownNode} to refuse a node no preparer ever reported from.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  run,
  style,
  table,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { listNodes, type NodeView, suggestNodes } from '@p2/inspect';
import type { Store } from '@p2/kv';
import { labelSetString } from '@p2/labels';

/**
 * Throws (exit 4, with the nearest known names) unless a preparer ever reported from `node`.
 */
export async function assertKnownNode(store: Store, node: string): Promise<void> {
  const known = (await listNodes(store)).filter((n) => n.preparer).map((n) => n.node);
  if (known.includes(node)) return;
  const near = suggestNodes(node, known);
  throw new CliExit(
    ExitCode.NOT_FOUND,
    [
      `error: no preparer has ever reported from node ${JSON.stringify(node)}`,
      near.length > 0
        ? `hint: did you mean ${near.join(', ')}?`
        : 'hint: no node has a preparer yet',
      'hint: `p2 nodes` lists the nodes; --force schedules anyway (it stays pending until a preparer runs there)',
    ].join('\n'),
  );
}

function render(ctx: CliContext, nodes: NodeView[]): string {
  if (nodes.length === 0) return style.dim(ctx.io, 'no nodes known');
  return table(
    ['NODE', 'STATUS', 'PODS', 'VERDICTS', 'LAST SEEN', 'VERSION', 'LABELS'],
    nodes.map((n) => [
      n.node,
      n.status === 'ready'
        ? style.green(ctx.io, n.status)
        : n.status === 'degraded' || n.status === 'stale'
          ? style.red(ctx.io, n.status)
          : style.yellow(ctx.io, n.status),
      `${n.pods.reality}/${n.pods.intent}`,
      Object.entries(n.verdicts)
        .map(([v, count]) => `${count} ${v}`)
        .join(', ') || '-',
      n.lastSeen ?? '-',
      n.version ?? '-',
      labelSetString(n.labels) || '-',
    ]),
  );
}

export function registerNodesCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('nodes')
      .description(
        'List the nodes the store knows: preparer status (stale: no heartbeat for 3 beats), pods (reality/intent), verdicts, last seen, version, labels',
      )
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const nodes = await withStore(ctx, options, (store) => listNodes(store));
      // Every field for scripts, null when unknown (a node no preparer reported from).
      const view = nodes.map((n) => ({
        ...n,
        version: n.version ?? null,
        started: n.started ?? null,
        lastSeen: n.lastSeen ?? null,
      }));
      emit(ctx.io, options, view, () => render(ctx, nodes));
    }),
  );
}
