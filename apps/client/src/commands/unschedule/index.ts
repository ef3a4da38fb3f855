/**
 * `p2 unschedule POD --node N` (P2's p2-rm): removes a legacy pod's intent and labels, or a uuid pod;
 * refuses a pod a replication controller placed unless `--force`, or `--deallocate` (`@p2/rc`'s
 * deallocatePod) also lowers the controller's replica count.
 */
import {
  intentKey,
  LabelStore,
  labelKey,
  PodTree,
  podLabelId,
  UuidPodStore,
  uuidPodKey,
} from '@p2/keyspace';
import { isUuidShaped } from '@p2/manifest';
import { deallocatePod } from '@p2/rc';
import type { Command } from 'commander';
import { ExitCode } from '../../exit-codes.js';
import { nodeName, run, type StoreFlags, withStore, withStoreFlags } from '../../lib/command.js';
import { CliExit, emit, type OutputOptions, style } from '../../output.js';
import type { ProgramContext } from '../../program.js';

/** What `p2 unschedule` prints (P2's field names). */
interface UnscheduleResult {
  pod_id: string;
  pod_unique_key: string;
  node: string;
  removed: string[];
  /** Set with `--deallocate`: the controller and its new replica count. */
  rc?: { id: string; replicasDesired: number };
}

interface UnscheduleOptions extends OutputOptions, StoreFlags {
  node?: string;
  force?: boolean;
  deallocate?: boolean;
}

export function registerUnscheduleCommand(program: Command, ctx: ProgramContext): void {
  withStoreFlags(
    program
      .command('unschedule')
      .description('Remove a pod from the intent of a node (P2: p2-rm); a UUID removes a uuid pod')
      .argument('<pod>', 'pod id (legacy pod) or pod unique key (uuid pod)')
      .option('--node <node>', 'node of a legacy pod (default: this host)')
      .option(
        '--deallocate',
        'for a pod a replication controller placed: also lower its replica count by one (P2 semantics)',
      )
      .option(
        '--force',
        'remove a pod a replication controller placed without changing the controller (it may put it back)',
      )
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (pod: string, options: UnscheduleOptions) => {
      const result = await withStore(ctx, options, async (store): Promise<UnscheduleResult> => {
        if (isUuidShaped(pod)) {
          const uuid = pod.toLowerCase();
          const uuids = new UuidPodStore(store);
          const found = await uuids.readPod(uuid);
          if (!found)
            throw new CliExit(
              ExitCode.NOT_FOUND,
              `error: no uuid pod ${uuid} (pods/${uuid} is absent)`,
            );
          if (options.node && options.node !== found.node) {
            throw new CliExit(
              ExitCode.INVALID_INPUT,
              `error: uuid pod ${uuid} is scheduled on ${found.node}, not ${options.node}`,
            );
          }
          await uuids.unschedule(uuid);
          return {
            pod_id: uuid,
            pod_unique_key: uuid,
            node: found.node,
            removed: [uuidPodKey(uuid), intentKey(found.node, uuid)],
          };
        }
        const node = nodeName(options.node);
        const intent = new PodTree(store, 'intent');
        const { value } = await intent.getPod(node, pod);
        if (!value) {
          throw new CliExit(
            ExitCode.NOT_FOUND,
            `error: pod ${pod} is not scheduled on ${node} (intent/${node}/${pod} is absent)\nhint: run \`p2 inspect --pod ${pod}\` to see where it runs`,
          );
        }
        const labels = new LabelStore(store);
        const podLabels = await labels.get('pod', `${node}/${pod}`);
        const rc = podLabels.labels.replication_controller_id;
        if (rc && options.deallocate) {
          const done = await deallocatePod(store, { node, pod, rc, user: ctx.env.USER ?? '' });
          return {
            pod_id: pod,
            pod_unique_key: '',
            node,
            removed: done.removed,
            rc: { id: rc, replicasDesired: done.replicasDesired },
          };
        }
        if (rc && !options.force) {
          throw new CliExit(
            ExitCode.INVALID_INPUT,
            `error: pod ${pod} on ${node} belongs to replication controller ${rc}; it would be scheduled again\nhint: pass --deallocate to also lower its replica count, or --force to remove only this pod`,
          );
        }
        await intent.deletePod(node, pod);
        const removed = [intent.key(node, pod)];
        if (podLabels.index !== 0) {
          await labels.removeAll('pod', `${node}/${pod}`);
          removed.push(labelKey('pod', podLabelId(node, pod)));
        }
        return { pod_id: pod, pod_unique_key: '', node, removed };
      });
      emit(ctx.io, options, result, (r) =>
        [
          `${r.node}: ${style.green(ctx.io, 'successfully removed')} ${r.pod_id}`,
          ...r.removed.map((k) => `  deleted ${k}`),
          ...(r.rc
            ? [`  replication controller ${r.rc.id} now wants ${r.rc.replicasDesired}`]
            : []),
        ].join('\n'),
      );
    }),
  );
}
