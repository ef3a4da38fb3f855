/**
 * `p2 label get|set|rm|query` — labels of nodes, pods (`<node>/<pod>`), replication controllers,
 * rolls and pod clusters, through `@p2/labels` (P2's p2-label `show`/`apply`, plus selector queries).
 */
import {
  assertLabelType,
  LabelStore,
  type LabelType,
  labelSetString,
  parseSelector,
} from '@p2/labels';
import type { Command } from 'commander';
import { ExitCode } from '../../exit-codes.js';
import {
  parseAssignments,
  runCommand,
  type StoreFlags,
  withStore,
  withStoreFlags,
} from '../../lib/command.js';
import { table } from '../../lib/table.js';
import { CliExit, emit, type OutputOptions, style } from '../../output.js';
import type { ProgramContext } from '../../program.js';

interface LabelOptions extends OutputOptions, StoreFlags {}

/** One labelled entity as every `p2 label` subcommand prints it. */
export interface LabelView {
  type: string;
  id: string;
  labels: Record<string, string>;
}

const TYPES_HELP = 'node, pod (id <node>/<pod>), replication_controller, rolls, pod_clusters';

function labelType(type: string): LabelType {
  assertLabelType(type);
  return type as LabelType;
}

function show(view: LabelView): string {
  return `${view.type}/${view.id}: ${labelSetString(view.labels)}`;
}

export function registerLabelCommand(program: Command, ctx: ProgramContext): void {
  const label = program
    .command('label')
    .description(`Read, change and query labels (types: ${TYPES_HELP})`);

  withStoreFlags(
    label
      .command('get')
      .description('Print the labels of one entity')
      .argument('<type>', TYPES_HELP)
      .argument('<id>', 'node name, <node>/<pod>, or a UUID')
      .option('--json', 'print JSON'),
  ).action(async (type: string, id: string, options: LabelOptions) => {
    await runCommand(ctx, options, async () => {
      const t = labelType(type);
      const record = await withStore(ctx, options, (store) => new LabelStore(store).get(t, id));
      const view: LabelView = { type: t, id, labels: { ...record.labels } };
      emit(ctx.io, options, view, show);
      return ExitCode.OK;
    });
  });

  withStoreFlags(
    label
      .command('set')
      .description('Add or change labels of one entity (others are kept)')
      .argument('<type>', TYPES_HELP)
      .argument('<id>', 'node name, <node>/<pod>, or a UUID')
      .argument('<labels...>', 'KEY=VALUE pairs')
      .option('--json', 'print JSON'),
  ).action(async (type: string, id: string, pairs: string[], options: LabelOptions) => {
    await runCommand(ctx, options, async () => {
      const t = labelType(type);
      const set = parseAssignments(pairs, 'a label');
      const labels = await withStore(ctx, options, (store) =>
        new LabelStore(store).apply({ type: t, id, set }),
      );
      emit(ctx.io, options, { type: t, id, labels: { ...labels } }, show);
      return ExitCode.OK;
    });
  });

  withStoreFlags(
    label
      .command('rm')
      .description('Remove labels of one entity (all of them with --all)')
      .argument('<type>', TYPES_HELP)
      .argument('<id>', 'node name, <node>/<pod>, or a UUID')
      .argument('[keys...]', 'label keys to remove')
      .option('--all', 'remove every label of the entity')
      .option('--json', 'print JSON'),
  ).action(
    async (type: string, id: string, keys: string[], options: LabelOptions & { all?: boolean }) => {
      await runCommand(ctx, options, async () => {
        const t = labelType(type);
        if ((keys.length === 0) === !options.all) {
          throw new CliExit(
            ExitCode.USAGE,
            'error: name the label keys to remove, or pass --all (not both)',
          );
        }
        const labels = await withStore(ctx, options, async (store) => {
          const labelStore = new LabelStore(store);
          if (options.all) {
            await labelStore.removeAll(t, id);
            return {};
          }
          return labelStore.apply({ type: t, id, remove: keys });
        });
        emit(ctx.io, options, { type: t, id, labels: { ...labels } }, show);
        return ExitCode.OK;
      });
    },
  );

  withStoreFlags(
    label
      .command('query')
      .description(
        'List the entities of a type whose labels match a selector (e.g. "role=web,zone in (a,b)")',
      )
      .argument('<type>', TYPES_HELP)
      .argument(
        '[selector]',
        'Kubernetes-style label selector; empty matches every labelled entity',
        '',
      )
      .option('--json', 'print JSON'),
  ).action(async (type: string, selector: string, options: LabelOptions) => {
    await runCommand(ctx, options, async () => {
      const t = labelType(type);
      const parsed = parseSelector(selector);
      const matches = await withStore(ctx, options, (store) =>
        new LabelStore(store).select(t, parsed),
      );
      const views: LabelView[] = matches
        .map((m) => ({ type: t, id: m.id, labels: { ...m.labels } }))
        .sort((a, b) => a.id.localeCompare(b.id));
      emit(ctx.io, options, views, (v) =>
        v.length === 0
          ? style.dim(ctx.io, `no ${t} matches ${JSON.stringify(parsed.toString())}`)
          : table(
              ['ID', 'LABELS'],
              v.map((x) => [x.id, labelSetString(x.labels)]),
            ),
      );
      return ExitCode.OK;
    });
  });
}
