/**
 * `p2-label show|apply` (spec 03 §6.1) through `@p2/keyspace`'s LabelStore. `show -t T -i ID`
 * prints `<type>/<id>: k=v,k2=v2`. `apply -t T (-s SELECTOR | -i ID) [-a K=V]… [-d K]… [-y]`
 * prints the labels to be added and removed, asks for each entity unless `-y`, changes it, and
 * prints its labels in the `show` format. Unlike P2, each entity's adds and deletes are one atomic
 * write. A failed write is printed on stderr and the others go on (exit 0, as P2); an entity left
 * unchanged because standard input gave no answer makes the exit code 1.
 */
import { type CliContext, collect, parseAssignments, run } from '@p2/cli-kit';
import { assertLabelType, LabelStore, type LabelType, labelKey } from '@p2/keyspace';
import { labelKeyProblem, labelSetString, labelValueProblem, parseSelector } from '@p2/labels';
import { Confirmer } from '../../confirm.js';
import { fail, warn } from '../../run.js';
import { storeProgram, withP2Store } from '../../store-flags.js';

const TYPES = 'pod, node, pod_clusters, replication_controller, rolls';

function labelType(type: string): LabelType {
  assertLabelType(type);
  return type;
}

const show = (type: string, id: string, labels: Readonly<Record<string, string>>) =>
  `${type}/${id}: ${labelSetString(labels)}\n`;

export function buildLabel(ctx: CliContext, input?: NodeJS.ReadableStream) {
  // The store flags belong to the program, so they work before or after the subcommand.
  const program = storeProgram('p2-label', "Show and change labels (P2's p2-label)", ctx);

  program
    .command('show')
    .description('Print the labels of one entity: <type>/<id>: k=v,k2=v2')
    .requiredOption('-t, --labelType <type>', TYPES)
    .requiredOption('-i, --id <id>', 'entity id (a pod: <node>/<pod-id>)')
    .action(
      run(ctx, async (options) => {
        const type = labelType(options.labelType);
        const found = await withP2Store(ctx, program.opts(), 'labels', (store) =>
          new LabelStore(store).get(type, options.id),
        );
        ctx.io.stdout(show(type, options.id, found.labels));
      }),
    );

  program
    .command('apply')
    .description('Add and delete labels of one entity, or of every entity a selector matches')
    .requiredOption('-t, --labelType <type>', TYPES)
    .option('-s, --selector <selector>', 'every entity of the type whose labels match')
    .option('-i, --id <id>', 'one entity (a pod: <node>/<pod-id>)')
    .option('-a, --add <KEY=VALUE>', 'label to set (repeatable)', collect, [] as string[])
    .option('-d, --delete <KEY>', 'label to delete (repeatable)', collect, [] as string[])
    .option('-y, --yes', 'do not ask for each entity')
    .action(
      run(ctx, async (options) => {
        const type = labelType(options.labelType);
        if ((options.selector === undefined) === (options.id === undefined))
          throw fail('give exactly one of --selector and --id');
        const set = parseAssignments(options.add, 'a label');
        const remove = options.delete;
        if (Object.keys(set).length === 0 && remove.length === 0)
          throw fail('nothing to apply: give --add KEY=VALUE or --delete KEY');
        // Argument errors end the command before any entity is asked about or changed.
        for (const [key, value] of Object.entries(set)) {
          const problem = labelKeyProblem(key) ?? labelValueProblem(value);
          if (problem) throw fail(`cannot add ${key}=${value}: ${problem}`);
        }
        if (options.id !== undefined) labelKey(type, options.id);
        const selector =
          options.selector === undefined ? undefined : parseSelector(options.selector);
        if (Object.keys(set).length > 0)
          ctx.io.stdout(`labels to be added: ${labelSetString(set)}\n`);
        if (remove.length > 0) ctx.io.stdout(`labels to be removed: ${remove.join(',')}\n`);
        const confirmer = new Confirmer(input);
        let unanswered = 0;
        try {
          await withP2Store(ctx, program.opts(), 'labels', async (store) => {
            const labels = new LabelStore(store);
            const ids = selector ? await labels.selectIds(type, selector) : [options.id as string];
            if (ids.length === 0) warn(ctx, `no ${type} matches ${options.selector}`);
            for (const id of ids) {
              if (!options.yes) {
                const answer = await confirmer.ask(ctx.io, `Apply to ${type}/${id}?`);
                if (answer !== 'yes') {
                  if (answer === 'none') unanswered += 1;
                  ctx.io.stderr(
                    `${type}/${id} left unchanged${answer === 'none' ? ': no answer on standard input (pass -y to apply without asking)' : ''}\n`,
                  );
                  continue;
                }
              }
              try {
                ctx.io.stdout(show(type, id, await labels.apply({ type, id, set, remove })));
              } catch (error) {
                ctx.io.stderr(`error: ${type}/${id}: ${(error as Error).message}\n`);
              }
            }
          });
        } finally {
          confirmer.close();
        }
        if (unanswered > 0)
          throw fail(
            `${unanswered} ${unanswered === 1 ? 'entity was' : 'entities were'} left unchanged for want of an answer`,
            'pass -y/--yes to apply without asking',
          );
      }),
    );
  return program;
}
