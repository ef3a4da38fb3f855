/**
 * `p2 rc …`, `p2 roll …`, `p2 ds …` — replication controllers, rolling updates and daemon sets over
 * `@p2/rc`'s stores (P2's p2-rctl and p2-dsctl). These only write records; the farms
 * (`p2-rctl-server` equivalents) act on them.
 */

import { DsStore, readDsStatus } from '@p2/daemon-set';
import {
  type DsRecord,
  LabelStore,
  type RcRecord,
  type RollRecord,
  type RollStatus,
} from '@p2/keyspace';
import { RcStore, rcCurrentPods } from '@p2/rc';
import { RollStore } from '@p2/roll';
import type { Command } from 'commander';
import { ExitCode } from '../../exit-codes.js';
import {
  collect,
  durationMs,
  loadManifest,
  parseAssignments,
  runCommand,
  type StoreFlags,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '../../lib/command.js';
import { table } from '../../lib/table.js';
import { CliExit, emit, type Io, type OutputOptions, style } from '../../output.js';
import type { ProgramContext } from '../../program.js';

type Options = OutputOptions & StoreFlags;

/** An RC as the CLI prints it. */
export interface RcView {
  id: string;
  podId: string;
  sha: string;
  nodeSelector: string;
  podLabels: Record<string, string>;
  replicasDesired: number;
  disabled: boolean;
  allocationStrategy: string;
  topologySpreadKey?: string;
  /** Nodes that currently carry a pod of this RC (`rc get` only). */
  nodes?: string[];
}

function rcView(rc: RcRecord): RcView {
  return {
    id: rc.id,
    podId: rc.manifest.id,
    sha: rc.manifest.sha(),
    nodeSelector: rc.nodeSelector.toString(),
    podLabels: { ...rc.podLabels },
    replicasDesired: rc.replicasDesired,
    disabled: rc.disabled,
    allocationStrategy: rc.allocationStrategy,
    ...(rc.topologySpreadKey ? { topologySpreadKey: rc.topologySpreadKey } : {}),
  };
}

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
  ].join('\n');
}

function rollView(roll: RollRecord): RollRecord {
  return { ...roll };
}

/** One rolling update as `p2 roll status` prints it (`roll` is null once a finished update's record is gone). */
export interface RollRow {
  id: string;
  roll: RollRecord | null;
  status: RollStatus | null;
}

/** A daemon set as the CLI prints it. */
export interface DsView {
  id: string;
  podId: string;
  sha: string;
  nodeSelector: string;
  minHealth: number;
  clusterName: string;
  timeoutMs: number;
  disabled: boolean;
}

function dsView(ds: DsRecord): DsView {
  return {
    id: ds.id,
    podId: ds.podId,
    sha: ds.manifest.sha(),
    nodeSelector: ds.nodeSelector.toString(),
    minHealth: ds.minHealth,
    clusterName: ds.clusterName,
    timeoutMs: ds.timeoutMs,
    disabled: ds.disabled,
  };
}

export function registerRcCommands(program: Command, ctx: ProgramContext): void {
  const act = (options: Options, body: () => Promise<ExitCode | undefined>) =>
    runCommand(ctx, options, body);

  // ---- rc ----------------------------------------------------------------------------------------
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
    async (
      options: Options & {
        manifest: string;
        nodeSelector: string;
        replicas: string;
        podLabel: string[];
        rcLabel: string[];
        availabilityZone?: string;
        clusterName?: string;
        allocationStrategy: string;
        spreadKey?: string;
        disabled?: boolean;
      },
    ) =>
      act(options, async () => {
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
        return ExitCode.OK;
      }),
  );

  withStoreFlags(
    rc
      .command('get')
      .description('Show a replication controller and the nodes its pods are on')
      .argument('<id>', 'RC id')
      .option('-m, --manifest', 'print only its manifest (YAML)')
      .option('--json', 'print JSON'),
  ).action(async (id: string, options: Options & { manifest?: boolean }) =>
    act(options, async () => {
      const { view, raw } = await withStore(ctx, options, async (store) => {
        const labels = new LabelStore(store);
        const { rc: record } = await new RcStore(store, { labels }).get(id);
        const pods = await rcCurrentPods(labels, id);
        const nodes = [...pods.keys()]
          .map((podLabelId) => podLabelId.split('/')[0] ?? podLabelId)
          .sort();
        return { view: { ...rcView(record), nodes }, raw: record.manifest.text() };
      });
      if (options.manifest && !options.json) ctx.io.stdout(raw.endsWith('\n') ? raw : `${raw}\n`);
      else emit(ctx.io, options, view, (v) => renderRc(ctx.io, v));
      return ExitCode.OK;
    }),
  );

  withStoreFlags(
    rc.command('list').description('List replication controllers').option('--json', 'print JSON'),
  ).action(async (options: Options) =>
    act(options, async () => {
      const { rcs, errors } = await withStore(ctx, options, (store) => new RcStore(store).list());
      const views = rcs
        .map(rcView)
        .sort((a, b) => a.podId.localeCompare(b.podId) || a.id.localeCompare(b.id));
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
      return ExitCode.OK;
    }),
  );

  withStoreFlags(
    rc
      .command('set-replicas')
      .description('Set the desired replica count')
      .argument('<id>', 'RC id')
      .argument('<n>', 'replicas')
      .option('--json', 'print JSON'),
  ).action(async (id: string, n: string, options: Options) =>
    act(options, async () => {
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
      return ExitCode.OK;
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
    ).action(async (id: string, options: Options) =>
      act(options, async () => {
        const updated = await withStore(ctx, options, (store) =>
          enable ? new RcStore(store).enable(id) : new RcStore(store).disable(id),
        );
        emit(
          ctx.io,
          options,
          rcView(updated),
          (v) => `${v.id}: ${v.disabled ? 'disabled' : 'enabled'}`,
        );
        return ExitCode.OK;
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
  ).action(async (id: string, options: Options & { force?: boolean }) =>
    act(options, async () => {
      await withStore(ctx, options, (store) =>
        new RcStore(store).delete(id, { force: Boolean(options.force) }),
      );
      emit(ctx.io, options, { id, deleted: true }, (r) => `deleted ${r.id}`);
      return ExitCode.OK;
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
  ).action(async (id: string, file: string, options: Options) =>
    act(options, async () => {
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
      return ExitCode.OK;
    }),
  );

  // ---- roll --------------------------------------------------------------------------------------
  const roll = program.command('roll').description('Rolling updates from one RC to another');

  withStoreFlags(
    roll
      .command('start')
      .description('Schedule a rolling update for the roll farm (P2: p2-rctl schedule-update)')
      .requiredOption('-o, --old <rc>', 'RC being replaced')
      .requiredOption('-n, --new <rc>', 'RC replacing it (also the update id)')
      .requiredOption('-d, --desired <n>', 'replicas the new RC ends with')
      .requiredOption('-m, --minimum <n>', 'healthy replicas to keep throughout')
      .option(
        '--strategy <s>',
        'unavailable (old before new, as P2) or surge (new before old)',
        'unavailable',
      )
      .option('--max-surge <n>', 'with surge: replicas above the target at once')
      .option(
        '--max-unavailable <n>',
        'with unavailable: replicas one step may take away (0 = only min limits)',
      )
      .option(
        '--deadline <duration>',
        'fail when no new replica becomes healthy for this long (e.g. 5m)',
      )
      .option('--rollback', 'move the replicas back to the old RC when the update fails')
      .option('--leave-old', 'keep the old RC (disabled) at the end')
      .option('--delay <duration>', 'pause between steps')
      .option('--json', 'print JSON'),
  ).action(
    async (
      options: Options & {
        old: string;
        new: string;
        desired: string;
        minimum: string;
        strategy: string;
        maxSurge?: string;
        maxUnavailable?: string;
        deadline?: string;
        rollback?: boolean;
        leaveOld?: boolean;
        delay?: string;
      },
    ) =>
      act(options, async () => {
        if (options.strategy !== 'surge' && options.strategy !== 'unavailable') {
          throw new CliExit(
            ExitCode.USAGE,
            `error: --strategy must be surge or unavailable, got ${JSON.stringify(options.strategy)}`,
          );
        }
        const created = await withStore(ctx, options, (store) =>
          new RollStore(store).create({
            oldRc: options.old,
            newRc: options.new,
            desiredReplicas: wholeNumber(options.desired, '--desired'),
            minimumReplicas: wholeNumber(options.minimum, '--minimum'),
            strategy: options.strategy as 'surge' | 'unavailable',
            autoRollback: Boolean(options.rollback),
            leaveOld: Boolean(options.leaveOld),
            deployer: ctx.env.USER ?? '',
            ...(options.maxSurge ? { maxSurge: wholeNumber(options.maxSurge, '--max-surge') } : {}),
            ...(options.maxUnavailable
              ? { maxUnavailable: wholeNumber(options.maxUnavailable, '--max-unavailable') }
              : {}),
            ...(options.deadline
              ? { progressDeadlineMs: durationMs(options.deadline, '--deadline') }
              : {}),
            ...(options.delay ? { rollDelayMs: durationMs(options.delay, '--delay') } : {}),
          }),
        );
        emit(
          ctx.io,
          options,
          rollView(created),
          (r) =>
            `${style.green(ctx.io, 'scheduled')} rolling update ${r.oldRc} → ${r.newRc} (${r.desiredReplicas} desired, ≥ ${r.minimumReplicas} healthy, ${r.strategy})`,
        );
        return ExitCode.OK;
      }),
  );

  withStoreFlags(
    roll
      .command('status')
      .description('Show rolling updates and their progress (all, or one by id)')
      .argument('[id]', 'update id (= new RC id)')
      .option('--json', 'print JSON'),
  ).action(async (id: string | undefined, options: Options) =>
    act(options, async () => {
      const rows: RollRow[] = await withStore(ctx, options, async (store) => {
        const rolls = new RollStore(store);
        if (id) {
          // A finished update's record is gone but its status stays: show whichever exists.
          const roll = (await rolls.get(id))?.roll ?? null;
          const status = (await rolls.status(id)) ?? null;
          return roll || status ? [{ id, roll: roll ? rollView(roll) : null, status }] : [];
        }
        const out: RollRow[] = [];
        for (const r of await rolls.list()) {
          out.push({
            id: r.newRc,
            roll: rollView(r),
            status: (await rolls.status(r.newRc)) ?? null,
          });
        }
        return out;
      });
      if (id && rows.length === 0)
        throw new CliExit(ExitCode.NOT_FOUND, `error: no rolling update ${id}`);
      const counts = (c?: { healthy: number; current: number; desired: number }) =>
        c ? `${c.healthy}/${c.current}/${c.desired}` : '-';
      emit(ctx.io, options, id ? rows[0] : rows, () =>
        rows.length === 0
          ? style.dim(ctx.io, 'no rolling updates')
          : table(
              ['ID', 'OLD', 'STATE', 'NEW H/C/D', 'OLD H/C/D', 'MESSAGE'],
              rows.map((r) => [
                r.id,
                r.roll?.oldRc ?? '-',
                r.status ? r.status.state : r.roll?.paused ? 'paused' : 'pending',
                counts(r.status?.new),
                counts(r.status?.old),
                r.status?.message ?? '',
              ]),
            ),
      );
      return ExitCode.OK;
    }),
  );

  for (const [name, description] of [
    ['pause', 'Stop making steps until resumed'],
    ['resume', 'Continue a paused update'],
    ['cancel', 'Delete the update; replicas stay where they are (as P2)'],
  ] as const) {
    withStoreFlags(
      roll
        .command(name)
        .description(description)
        .argument('<id>', 'update id (= new RC id)')
        .option('--json', 'print JSON'),
    ).action(async (id: string, options: Options) =>
      act(options, async () => {
        await withStore(ctx, options, async (store) => {
          const rolls = new RollStore(store);
          if (!(await rolls.get(id)))
            throw new CliExit(ExitCode.NOT_FOUND, `error: no rolling update ${id}`);
          if (name === 'pause') await rolls.pause(id);
          else if (name === 'resume') await rolls.resume(id);
          else await rolls.cancel(id);
        });
        const done = name === 'pause' ? 'paused' : name === 'resume' ? 'resumed' : 'cancelled';
        emit(ctx.io, options, { id, state: done }, (r) => `${r.id}: ${r.state}`);
        return ExitCode.OK;
      }),
    );
  }

  // ---- ds ----------------------------------------------------------------------------------------
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
    async (
      options: Options & {
        manifest: string;
        nodeSelector?: string;
        everywhere?: boolean;
        clusterName: string;
        minHealth: string;
        timeout: string;
        disabled?: boolean;
      },
    ) =>
      act(options, async () => {
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
        return ExitCode.OK;
      }),
  );

  withStoreFlags(
    ds.command('list').description('List daemon sets').option('--json', 'print JSON'),
  ).action(async (options: Options) =>
    act(options, async () => {
      const views = (await withStore(ctx, options, (store) => new DsStore(store).list())).map(
        dsView,
      );
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
      return ExitCode.OK;
    }),
  );

  withStoreFlags(
    ds
      .command('get')
      .description('Show a daemon set and its status')
      .argument('<id>', 'daemon set id')
      .option('--json', 'print JSON'),
  ).action(async (id: string, options: Options) =>
    act(options, async () => {
      const view = await withStore(ctx, options, async (store) => {
        const { ds: record } = await new DsStore(store).get(id);
        return { ...dsView(record), status: (await readDsStatus(store, id)) ?? null };
      });
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
      return ExitCode.OK;
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
    ).action(async (id: string, options: Options) =>
      act(options, async () => {
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
        return ExitCode.OK;
      }),
    );
  }
}
