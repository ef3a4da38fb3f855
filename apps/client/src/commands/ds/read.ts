/** `p2 ds list|get|test-selector` (P2: p2-dsctl list, get, test-selector). */
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
import { DsStore, testSelector } from '@p2/daemon-set';
import { inspectDaemonSet, listDaemonSets } from '@p2/inspect';
import { LabelStore } from '@p2/keyspace';
import { Selector } from '@p2/labels';
import { checkController } from '../../lib/liveness.js';

export function registerDsRead(ds: Command, ctx: CliContext): void {
  withStoreFlags(
    ds.command('list').description('List daemon sets').option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const views = await withStore(ctx, options, listDaemonSets);
      emit(ctx.io, options, views, (v) =>
        v.length === 0
          ? style.dim(ctx.io, 'no daemon sets')
          : table(
              ['ID', 'POD', 'ENABLED', 'MIN HEALTH', 'SELECTOR'],
              v.map((d) => [
                d.id,
                d.podId,
                d.disabled ? style.yellow(ctx.io, 'no') : 'yes',
                String(d.minHealth),
                d.nodeSelector,
              ]),
            ),
      );
    }),
  );

  withStoreFlags(
    ds
      .command('get')
      .description('Show a daemon set and its status')
      .argument('<id>', 'daemon set id')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const view = await withStore(ctx, options, async (store) => ({
        ...(await inspectDaemonSet(store, id)),
        controller: await checkController(ctx, store, 'ds', id),
      }));
      emit(ctx.io, options, view, (v) =>
        [
          `${style.bold(ctx.io, v.id)}${v.disabled ? ` ${style.yellow(ctx.io, '(disabled)')}` : ''}`,
          `pod         ${v.podId} (${v.sha.slice(0, 12)})`,
          `selector    ${v.nodeSelector}`,
          `min health  ${v.minHealth}`,
          `cluster     ${v.clusterName}`,
          `status      ${v.status ? `${v.status.nodes_deployed} node(s) deployed${v.status.replication_in_progress ? ', replicating' : ''}` : style.dim(ctx.io, 'none yet')}`,
        ].join('\n'),
      );
    }),
  );

  withStoreFlags(
    ds
      .command('test-selector')
      .description(
        "Show the nodes a selector matches and, with --ds, which it adds and removes compared with that daemon set's selector (P2: p2-dsctl test-selector)",
      )
      .argument('[selector]', 'node selector, e.g. "role=web"')
      .option('--everywhere', 'match every node')
      .option('--ds <id>', 'compare with this daemon set')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (selector, options) => {
      if (!options.everywhere && !selector)
        throw new CliExit(ExitCode.USAGE, 'error: pass a selector, or --everywhere');
      const sel = options.everywhere ? Selector.everything() : Selector.parse(selector ?? '');
      const result = await withStore(ctx, options, async (store) => {
        const current = options.ds ? (await new DsStore(store).get(options.ds)).ds : undefined;
        return testSelector(new LabelStore(store), sel, current?.nodeSelector);
      });
      emit(ctx.io, options, result, (r) =>
        [
          r.matching.length === 0
            ? style.dim(ctx.io, 'no nodes match')
            : `${r.matching.length} node(s) match:\n${r.matching.map((n) => `  ${n}`).join('\n')}`,
          ...(options.ds
            ? [
                `compared with daemon set ${options.ds}: ${r.added.length} added, ${r.removed.length} removed`,
                ...r.added.map((n) => `  + ${n}`),
                ...r.removed.map((n) => `  - ${n}`),
              ]
            : []),
        ].join('\n'),
      );
    }),
  );
}
