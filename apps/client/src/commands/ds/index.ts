/**
 * `p2 ds create|list|get|enable|disable|delete` — daemon sets over `@p2/rc`'s store (P2's
 * p2-dsctl): a pod on every node matching a selector; the daemon set farm acts on them.
 */

import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  durationMs,
  emit,
  loadManifest,
  run,
  style,
  table,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { DsStore } from '@p2/daemon-set';
import { dsView, inspectDaemonSet, listDaemonSets } from '@p2/inspect';

export function registerDsCommand(program: Command, ctx: CliContext): void {
  const ds = program
    .command('ds')
    .description('Daemon sets: a pod on every node matching a selector (P2: p2-dsctl)');

  withStoreFlags(
    ds
      .command('create')
      .description('Create a daemon set')
      .requiredOption('-m, --manifest <file>', 'pod manifest')
      .option('-n, --node-selector <selector>', 'nodes to run on')
      .option('--everywhere', 'run on every node')
      .requiredOption('--cluster-name <name>', 'cluster name')
      .option('--min-health <n>', 'healthy replicas to keep while replacing', '0')
      .option('--timeout <duration>', 'per-node replication timeout', '10m')
      .option('--disabled', 'create disabled')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const manifest = await loadManifest(ctx, options.manifest, { strict: true });
      const created = await withStore(ctx, options, (store) =>
        new DsStore(store).create({
          manifest,
          clusterName: options.clusterName,
          minHealth: wholeNumber(options.minHealth, '--min-health'),
          timeoutMs: durationMs(options.timeout, '--timeout'),
          disabled: Boolean(options.disabled),
          everywhere: Boolean(options.everywhere),
          user: ctx.env.USER ?? '',
          ...(options.nodeSelector ? { nodeSelector: options.nodeSelector } : {}),
        }),
      );
      emit(
        ctx.io,
        options,
        dsView(created),
        (v) =>
          `${style.green(ctx.io, 'created')} daemon set ${v.id} for ${v.podId} on "${v.nodeSelector}"`,
      );
    }),
  );

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
      const view = await withStore(ctx, options, (store) => inspectDaemonSet(store, id));
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

  for (const name of ['enable', 'disable', 'delete'] as const) {
    withStoreFlags(
      ds
        .command(name)
        .description(
          name === 'delete'
            ? 'Delete a daemon set (its pods stay scheduled)'
            : `${name[0]?.toUpperCase()}${name.slice(1)} a daemon set`,
        )
        .argument('<id>', 'daemon set id')
        .option('--json', 'print JSON'),
    ).action(
      run(ctx, async (id, options) => {
        await withStore(ctx, options, async (store) => {
          const dss = new DsStore(store);
          const user = ctx.env.USER ?? '';
          if (name === 'enable') await dss.enable(id, user);
          else if (name === 'disable') await dss.disable(id, user);
          else {
            await dss.get(id);
            await dss.delete(id, user);
          }
        });
        emit(ctx.io, options, { id, done: name }, (r) => `${r.id}: ${r.done}d`);
      }),
    );
  }
}
