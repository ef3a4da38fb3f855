/**
 * `p2 rc create|get|get-status|list|set-replicas|enable|disable|delete|update-manifest` — replication
 * controllers over `@p2/rc`'s store (P2's p2-rctl). These only write records; the farms
 * (`p2-rctl-server` equivalents) act on them.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  collect,
  emit,
  type Io,
  loadManifest,
  parseAssignments,
  run,
  style,
  table,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { inspectRc, listRcs, type RcView, rcView } from '@p2/inspect';
import { encodeRcStatus } from '@p2/keyspace';
import { RcStore } from '@p2/rc';

/** An RC for people (`rc get` adds its nodes). */
function renderRc(io: Io, rc: RcView): string {
  return [
    `${style.bold(io, rc.id)}${rc.disabled ? ` ${style.yellow(io, '(disabled)')}` : ''}`,
    `pod         ${rc.podId} (${rc.sha.slice(0, 12)})`,
    `replicas    ${rc.replicasDesired}${rc.nodes ? ` desired, ${rc.nodes.length} current` : ''}`,
    `selector    ${rc.nodeSelector || style.dim(io, '(everything)')}`,
    `strategy    ${rc.allocationStrategy}${rc.topologySpreadKey ? `, spread by ${rc.topologySpreadKey}` : ''}`,
    ...(Object.keys(rc.podLabels).length > 0
      ? [
          `pod labels  ${Object.entries(rc.podLabels)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')}`,
        ]
      : []),
    ...(rc.nodes && rc.nodes.length > 0 ? [`nodes       ${rc.nodes.join(', ')}`] : []),
    ...(rc.nodeTransfer
      ? [
          `transfer    ${style.yellow(io, `${rc.nodeTransfer.old_node} → ${rc.nodeTransfer.new_node}`)} (in progress, ${rc.nodeTransfer.id})`,
        ]
      : []),
  ].join('\n');
}

export function registerRcCommand(program: Command, ctx: CliContext): void {
  const rc = program.command('rc').description('Replication controllers (P2: p2-rctl)');

  withStoreFlags(
    rc
      .command('create')
      .description('Create a replication controller (0 replicas unless --replicas)')
      .requiredOption('-m, --manifest <file>', 'pod manifest')
      .requiredOption(
        '-n, --node-selector <selector>',
        'nodes it may place pods on, e.g. "role=web"',
      )
      .option('-r, --replicas <n>', 'initial replica count', '0')
      .option('-p, --pod-label <k=v>', 'label for every pod it schedules (repeatable)', collect, [])
      .option('--rc-label <k=v>', 'label on the controller (repeatable)', collect, [])
      .option('-a, --availability-zone <az>', 'injected into pod labels as availability_zone')
      .option('-c, --cluster-name <name>', 'injected into pod labels as cluster_name')
      .option(
        '-s, --allocation-strategy <s>',
        'static_strategy or dynamic_strategy',
        'static_strategy',
      )
      .option('--spread-key <label>', 'spread replicas across the values of this node label')
      .option('--disabled', 'create disabled')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const manifest = await loadManifest(ctx, options.manifest, { strict: true });
      const created = await withStore(ctx, options, (store) =>
        new RcStore(store).create({
          manifest,
          nodeSelector: options.nodeSelector,
          replicasDesired: wholeNumber(options.replicas, '--replicas'),
          podLabels: parseAssignments(options.podLabel, 'a pod label'),
          rcLabels: parseAssignments(options.rcLabel, 'an RC label'),
          allocationStrategy: options.allocationStrategy,
          disabled: Boolean(options.disabled),
          ...(options.availabilityZone ? { availabilityZone: options.availabilityZone } : {}),
          ...(options.clusterName ? { clusterName: options.clusterName } : {}),
          ...(options.spreadKey ? { topologySpreadKey: options.spreadKey } : {}),
        }),
      );
      emit(
        ctx.io,
        options,
        rcView(created),
        (v) => `${style.green(ctx.io, 'created')} ${renderRc(ctx.io, v)}`,
      );
    }),
  );

  withStoreFlags(
    rc
      .command('get')
      .description('Show a replication controller and the nodes its pods are on')
      .argument('<id>', 'RC id')
      .option('-m, --manifest', 'print only its manifest (YAML)')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const { rc: view, manifest } = await withStore(ctx, options, (store) => inspectRc(store, id));
      const raw = manifest.text();
      if (options.manifest && !options.json) ctx.io.stdout(raw.endsWith('\n') ? raw : `${raw}\n`);
      else emit(ctx.io, options, view, (v) => renderRc(ctx.io, v));
    }),
  );

  withStoreFlags(
    rc
      .command('get-status')
      .description(
        "Show a controller's status record: the node transfer in progress, if any (P2: p2-rctl get-status)",
      )
      .argument('<id>', 'RC id')
      .option('--json', 'print JSON ({"id", "status"}; status null when there is none)'),
  ).action(
    run(ctx, async (id, options) => {
      const status = await withStore(ctx, options, (store) => new RcStore(store).getStatus(id));
      emit(ctx.io, options, { id, status: status ?? null }, (r) =>
        r.status ? encodeRcStatus(r.status, '    ') : `no status found for ${r.id}`,
      );
    }),
  );

  withStoreFlags(
    rc.command('list').description('List replication controllers').option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const { rcs: views, errors } = await withStore(ctx, options, listRcs);
      emit(ctx.io, options, views, (v) =>
        v.length === 0
          ? style.dim(ctx.io, 'no replication controllers')
          : table(
              ['ID', 'POD', 'REPLICAS', 'ENABLED', 'SELECTOR'],
              v.map((r) => [
                r.id,
                r.podId,
                String(r.replicasDesired),
                r.disabled ? style.yellow(ctx.io, 'no') : 'yes',
                r.nodeSelector,
              ]),
            ),
      );
      for (const e of errors) ctx.io.stderr(`warning: ${e.message}\n`);
    }),
  );

  withStoreFlags(
    rc
      .command('set-replicas')
      .description('Set the desired replica count')
      .argument('<id>', 'RC id')
      .argument('<n>', 'replicas')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, n, options) => {
      const replicas = wholeNumber(n, 'the replica count');
      const updated = await withStore(ctx, options, (store) =>
        new RcStore(store).setDesiredReplicas(id, replicas),
      );
      emit(
        ctx.io,
        options,
        rcView(updated),
        (v) => `${v.id}: replicas set to ${v.replicasDesired}`,
      );
    }),
  );

  for (const [name, enable] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    withStoreFlags(
      rc
        .command(name)
        .description(
          enable
            ? 'Let the controller place and remove pods again'
            : 'Stop the controller from changing intent',
        )
        .argument('<id>', 'RC id')
        .option('--json', 'print JSON'),
    ).action(
      run(ctx, async (id, options) => {
        const updated = await withStore(ctx, options, (store) =>
          enable ? new RcStore(store).enable(id) : new RcStore(store).disable(id),
        );
        emit(
          ctx.io,
          options,
          rcView(updated),
          (v) => `${v.id}: ${v.disabled ? 'disabled' : 'enabled'}`,
        );
      }),
    );
  }

  withStoreFlags(
    rc
      .command('delete')
      .description(
        'Delete a replication controller (refused while it wants replicas, unless --force)',
      )
      .argument('<id>', 'RC id')
      .option('-f, --force', 'delete even with replicas desired (its pods stay scheduled)')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      await withStore(ctx, options, (store) =>
        new RcStore(store).delete(id, { force: Boolean(options.force) }),
      );
      emit(ctx.io, options, { id, deleted: true }, (r) => `deleted ${r.id}`);
    }),
  );

  withStoreFlags(
    rc
      .command('update-manifest')
      .description(
        "Replace a controller's manifest; its pods' intent is rewritten on the next pass (use `p2 roll` for a gated update)",
      )
      .argument('<id>', 'RC id')
      .argument('<manifest>', 'manifest file (same pod id)')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, file, options) => {
      const manifest = await loadManifest(ctx, file, { strict: true });
      const updated = await withStore(ctx, options, (store) =>
        new RcStore(store).updateManifest(id, manifest),
      );
      emit(
        ctx.io,
        options,
        rcView(updated),
        (v) => `${v.id}: manifest of ${v.podId} is now ${v.sha.slice(0, 12)}`,
      );
    }),
  );
}
