/**
 * `p2 label get|set|rm|query` — labels of nodes, pods (`<node>/<pod>`), replication controllers,
 * rolls and pod clusters, through `@p2/labels` (P2's p2-label `show`/`apply`, plus selector queries).
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  type OutputOptions,
  parseAssignments,
  run,
  style,
  table,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { entityLabels, type LabelView, queryLabels } from '@p2/inspect';
import { assertLabelType, LabelStore, type LabelType } from '@p2/keyspace';
import { labelSetString, parseSelector } from '@p2/labels';

const TYPES_HELP = 'node, pod (id <node>/<pod>), replication_controller, rolls, pod_clusters';

function labelType(type: string): LabelType {
  assertLabelType(type);
  return type as LabelType;
}

function show(view: LabelView): string {
  return `${view.type}/${view.id}: ${labelSetString(view.labels)}`;
}

export function registerLabelCommand(program: Command, ctx: CliContext): void {
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
  ).action(
    run(ctx, async (type, id, options) => {
      const t = labelType(type);
      const view = await withStore(ctx, options, (store) => entityLabels(store, t, id));
      emit(ctx.io, options, view, show);
    }),
  );

  /** `<id> rest…`, or with --selector every entity the selector matches and all args as `rest`. */
  const targets = async (
    labelStore: LabelStore,
    t: LabelType,
    args: string[],
    selector: string | undefined,
  ): Promise<{ ids: string[]; rest: string[] }> => {
    if (selector === undefined) {
      const [id, ...rest] = args;
      if (!id)
        throw new CliExit(ExitCode.USAGE, 'error: name the entity (an id), or pass --selector');
      return { ids: [id], rest };
    }
    return { ids: await labelStore.selectIds(t, parseSelector(selector)), rest: args };
  };

  const report = (views: LabelView[], bySelector: boolean, options: OutputOptions) => {
    if (bySelector) {
      emit(ctx.io, options, views, (v) =>
        v.length === 0
          ? style.dim(ctx.io, 'no entity matched the selector')
          : v.map(show).join('\n'),
      );
    } else emit(ctx.io, options, views[0] as LabelView, show);
  };

  withStoreFlags(
    label
      .command('set')
      .description(
        'Add or change labels of one entity, or of every entity matching --selector (others are kept)',
      )
      .argument('<type>', TYPES_HELP)
      .argument(
        '<args...>',
        '<id> KEY=VALUE… (node name, <node>/<pod>, or a UUID), or KEY=VALUE… with --selector',
      )
      .option(
        '-s, --selector <selector>',
        'apply to every entity of the type matching this selector',
      )
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (type, args, options) => {
      const t = labelType(type);
      const views = await withStore(ctx, options, async (store) => {
        const labelStore = new LabelStore(store);
        const { ids, rest } = await targets(labelStore, t, args, options.selector);
        if (rest.length === 0)
          throw new CliExit(ExitCode.USAGE, 'error: give at least one KEY=VALUE');
        return labelStore.applyEach(t, ids, { set: parseAssignments(rest, 'a label') });
      });
      report(views, options.selector !== undefined, options);
    }),
  );

  withStoreFlags(
    label
      .command('rm')
      .description(
        'Remove labels (all of them with --all) of one entity, or of every entity matching --selector',
      )
      .argument('<type>', TYPES_HELP)
      .argument('<args...>', '<id> [KEY…], or KEY… with --selector')
      .option(
        '-s, --selector <selector>',
        'apply to every entity of the type matching this selector',
      )
      .option('--all', 'remove every label')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (type, args, options) => {
      const t = labelType(type);
      const views = await withStore(ctx, options, async (store) => {
        const labelStore = new LabelStore(store);
        const { ids, rest: keys } = await targets(labelStore, t, args, options.selector);
        if ((keys.length === 0) === !options.all) {
          throw new CliExit(
            ExitCode.USAGE,
            'error: name the label keys to remove, or pass --all (not both)',
          );
        }
        return labelStore.applyEach(t, ids, options.all ? { removeAll: true } : { remove: keys });
      });
      report(views, options.selector !== undefined, options);
    }),
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
  ).action(
    run(ctx, async (type, selector, options) => {
      const t = labelType(type);
      const parsed = parseSelector(selector);
      const views = await withStore(ctx, options, (store) => queryLabels(store, t, parsed));
      emit(ctx.io, options, views, (v) =>
        v.length === 0
          ? style.dim(ctx.io, `no ${t} matches ${JSON.stringify(parsed.toString())}`)
          : table(
              ['ID', 'LABELS'],
              v.map((x) => [x.id, labelSetString(x.labels)]),
            ),
      );
    }),
  );
}
