/**
 * `p2 pc create|get|list|update|delete|watch` — pod clusters (P2's p2-pcctl) over `@p2/keyspace`'s
 * PodClusterStore: one cluster per pod id + availability zone + cluster name, whose pod selector
 * picks the member pods a load balancer syncer follows (`p2 pc watch`).
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  ExitCode,
  emit,
  run,
  style,
  table,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { PodClusterStore, Prefix } from '@p2/keyspace';
import { Selector } from '@p2/labels';
import { resolveIdsOf } from '../../lib/id-prefix.js';
import { describeCluster, findCluster, parseAnnotations, pcView } from './shared.js';
import { registerPcWatch } from './watch.js';

const IDENTITY = 'or name it with all of --pod, --az and --cluster-name';

/** A subcommand naming one cluster by `[id]` or by `--pod --az --cluster-name`. */
function identified(parent: Command, name: string, description: string) {
  return parent
    .command(name)
    .description(`${description} (by id, ${IDENTITY})`)
    .argument('[id]', 'pod cluster id')
    .option('--pod <id>', 'pod id')
    .option('--az <zone>', 'availability zone')
    .option('--cluster-name <name>', 'cluster name');
}

export function registerPcCommand(program: Command, ctx: CliContext): void {
  const pc = program
    .command('pc')
    .description(
      'Pod clusters: pods of one pod id, az and cluster name, for load balancers (P2: p2-pcctl)',
    );
  resolveIdsOf(pc, ctx, Prefix.podClusters);

  withStoreFlags(
    pc
      .command('create')
      .description('Create a pod cluster (one per pod id + az + cluster name)')
      .requiredOption('--pod <id>', 'pod id')
      .requiredOption('--az <zone>', 'availability zone')
      .requiredOption('--cluster-name <name>', 'cluster name')
      .option(
        '--selector <selector>',
        'member pods (default pod_id=…,availability_zone=…,cluster_name=…)',
      )
      .option('--annotations <json>', 'a JSON object for the syncers', '{}')
      .option('--allocation-strategy <s>', 'static_strategy or dynamic_strategy', 'static_strategy')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const annotations = parseAnnotations(options.annotations);
      const created = await withStore(ctx, options, (store) =>
        new PodClusterStore(store).create({
          podId: options.pod,
          availabilityZone: options.az,
          name: options.clusterName,
          annotations,
          allocationStrategy: options.allocationStrategy,
          user: ctx.env.USER ?? '',
          ...(options.selector !== undefined ? { podSelector: options.selector } : {}),
        }),
      );
      emit(
        ctx.io,
        options,
        pcView(created),
        () => `${style.green(ctx.io, 'created')} ${describeCluster(created)}`,
      );
    }),
  );

  withStoreFlags(
    pc.command('list').description('List pod clusters').option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const all = await withStore(ctx, options, (store) => new PodClusterStore(store).list());
      emit(ctx.io, options, all.map(pcView), () =>
        all.length === 0
          ? style.dim(ctx.io, 'no pod clusters')
          : table(
              ['ID', 'POD', 'AZ', 'CLUSTER', 'SELECTOR'],
              all.map((p) => [p.id, p.podId, p.availabilityZone, p.name, p.podSelector.toString()]),
            ),
      );
    }),
  );

  withStoreFlags(identified(pc, 'get', 'Show a pod cluster').option('--json', 'print JSON')).action(
    run(ctx, async (id, options) => {
      const found = await withStore(ctx, options, (store) =>
        findCluster(new PodClusterStore(store), id, options),
      );
      emit(ctx.io, options, pcView(found), () => describeCluster(found));
    }),
  );

  withStoreFlags(
    identified(pc, 'update', "Change a pod cluster's selector, annotations or strategy")
      .option('--selector <selector>', 'new member selector')
      .option('--annotations <json>', 'new annotations (a JSON object, replaces the old)')
      .option('--allocation-strategy <s>', 'new allocation strategy')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const change = {
        ...(options.selector !== undefined
          ? { podSelector: Selector.parse(options.selector) }
          : {}),
        ...(options.annotations !== undefined
          ? { annotations: parseAnnotations(options.annotations) }
          : {}),
        ...(options.allocationStrategy !== undefined
          ? { allocationStrategy: options.allocationStrategy }
          : {}),
      };
      if (Object.keys(change).length === 0) {
        ctx.io.stderr(
          'error: No changes were made (give --selector, --annotations or --allocation-strategy)\n',
        );
        return ExitCode.USAGE;
      }
      const updated = await withStore(ctx, options, async (store) => {
        const pcs = new PodClusterStore(store);
        return pcs.update((await findCluster(pcs, id, options)).id, change);
      });
      emit(
        ctx.io,
        options,
        pcView(updated),
        () => `${style.green(ctx.io, 'updated')} ${describeCluster(updated)}`,
      );
    }),
  );

  withStoreFlags(
    identified(pc, 'delete', 'Delete a pod cluster and its labels').option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const gone = await withStore(ctx, options, async (store) => {
        const pcs = new PodClusterStore(store);
        const found = await findCluster(pcs, id, options);
        await pcs.delete(found.id);
        return found.id;
      });
      emit(ctx.io, options, { id: gone, deleted: true }, (r) => `${r.id}: deleted`);
    }),
  );

  registerPcWatch(pc, ctx);
}
