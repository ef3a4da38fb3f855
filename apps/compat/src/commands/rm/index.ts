/**
 * `p2-rm [POD] [--node N | -k/--pod-unique-key K] [--deallocate] [--remove-orphan]` (spec 03
 * §6.1), through `@p2/rc`'s unschedulePod (P2's p2-rm rules): a legacy pod leaves its node's
 * intent with its labels, and prints `<node>: successfully removed <pod>`; a pod a replication
 * controller placed is refused unless `--deallocate` also lowers the controller's count (or, when
 * the controller is gone, `--remove-orphan`). A uuid pod (`-k`) is checked against POD, or without
 * POD confirmed on standard input, and prints `successfully removed <pod>-<uuid>`.
 */
import { type CliContext, run } from '@p2/cli-kit';
import { UuidPodStore } from '@p2/keyspace';
import { isUuidShaped, parseManifest } from '@p2/manifest';
import { unschedulePod } from '@p2/rc';
import { Confirmer } from '../../confirm.js';
import { fail } from '../../run.js';
import { storeProgram, withP2Store } from '../../store-flags.js';

export function buildRm(ctx: CliContext, input?: NodeJS.ReadableStream) {
  const program = storeProgram('p2-rm', "Remove a pod from a node's intent (P2's p2-rm)", ctx)
    .argument('[pod]', 'pod id; with -k, the id the uuid pod must have')
    .option('--node <node>', 'node of the legacy pod (default: this host)')
    .option('-k, --pod-unique-key <uuid>', 'remove this uuid pod')
    .option(
      '--deallocate',
      'for a pod a replication controller placed: also lower its replica count by one',
    )
    .option('--remove-orphan', 'remove a pod whose replication controller no longer exists');
  program.action(
    run(ctx, async (pod, options) => {
      const uuid = options.podUniqueKey?.toLowerCase();
      if (uuid !== undefined && options.node !== undefined)
        throw fail('give --node or --pod-unique-key, not both');
      if (uuid === undefined && !pod) throw fail('name the pod to remove, or give -k UUID');
      if (uuid !== undefined && !isUuidShaped(uuid))
        throw fail(`--pod-unique-key wants a UUID, got ${JSON.stringify(uuid)}`);
      const user = ctx.env.USER ?? '';
      const line = await withP2Store(ctx, options, 'ignores-applicator', async (store) => {
        if (uuid !== undefined) {
          const found = await new UuidPodStore(store).readPod(uuid);
          if (!found) throw fail(`no uuid pod ${uuid}: pods/${uuid} does not exist`);
          const podId = parseManifest(found.manifest, { source: `pods/${uuid}` }).id;
          if (pod && pod !== podId)
            throw fail(`uuid pod ${uuid} is pod ${podId}, not ${pod}; nothing removed`);
          if (!pod) {
            const confirmer = new Confirmer(input);
            const answer = await confirmer
              .ask(ctx.io, `Remove uuid pod ${uuid} (pod ${podId}) from ${found.node}?`)
              .finally(() => confirmer.close());
            if (answer !== 'yes')
              throw fail(
                answer === 'none'
                  ? 'no answer on standard input; nothing removed'
                  : 'not confirmed; nothing removed',
                `name the pod to skip the question: p2-rm ${podId} -k ${uuid}`,
              );
          }
          await unschedulePod(store, { pod: uuid, user });
          return `successfully removed ${podId}-${uuid}`;
        }
        const done = await unschedulePod(store, {
          pod: pod as string,
          ...(options.node ? { node: options.node } : {}),
          deallocate: Boolean(options.deallocate),
          removeOrphan: Boolean(options.removeOrphan),
          user,
        });
        switch (done.outcome) {
          case 'removed':
            return `${done.node}: successfully removed ${done.podId}`;
          case 'owned':
            throw fail(
              `pod ${pod} on ${done.node} was placed by replication controller ${done.rc}, which would place it again; nothing removed`,
              'pass --deallocate to also lower the controller’s replica count by one',
            );
          case 'orphan':
            throw fail(
              `pod ${pod} on ${done.node} names replication controller ${done.rc}, which no longer exists; nothing removed`,
              'pass --remove-orphan to remove it',
            );
          default:
            throw fail(
              `pod ${pod} is not scheduled on ${done.node ?? 'this node'}: intent/${done.node}/${pod} does not exist`,
              'see where it runs with `p2-inspect --pod POD --format list`',
            );
        }
      });
      ctx.io.stdout(`${line}\n`);
    }),
  );
  return program;
}
