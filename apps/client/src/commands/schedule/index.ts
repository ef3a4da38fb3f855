/**
 * `p2 schedule MANIFEST --node N [--uuid]` (P2's p2-schedule). Scheduling is strict: a manifest
 * with lint errors is refused before anything is written, and the file's bytes are stored verbatim
 * (so a clearsigned manifest keeps its signature).
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  emit,
  loadManifest,
  nodeName,
  run,
  style,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { PodTree, UuidPodStore, uuidPodKey } from '@p2/keyspace';
import { waitIfAsked, waitRequest, withWaitFlags } from '../../lib/wait-pod.js';
import { assertKnownNode } from '../nodes/index.js';

/** What `p2 schedule` prints (P2's `{"pod_id","pod_unique_key"}`, camelCase as every p2 `--json`; `p2-schedule` prints P2's). */
interface ScheduleResult {
  podId: string;
  podUniqueKey: string;
  node: string;
  key: string;
  sha: string;
  signed: boolean;
}

export function registerScheduleCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    withWaitFlags(
      program
        .command('schedule')
        .description('Write a pod manifest into the intent of a node (P2: p2-schedule)')
        .argument('<manifest>', 'manifest file (plain or clearsigned YAML)')
        .option('--node <node>', 'node to schedule on (default: this host)')
        .option('--uuid', 'schedule a uuid pod: pods/<uuid> plus an intent index (P2: --uuid-pod)')
        .option('--force', 'schedule on a --node no preparer ever reported from (see `p2 nodes`)')
        .option('--json', 'print JSON'),
      'wait until the pod runs as intended (preparer running, health passing if it has a status port)',
    ),
  ).action(
    run(ctx, async (file, options) => {
      const manifest = await loadManifest(ctx, file, { strict: true });
      const wait = waitRequest(options);
      const node = nodeName(options.node);
      const result = await withStore(ctx, options, async (store) => {
        if (options.node !== undefined && !options.force) await assertKnownNode(store, node);
        if (options.uuid) {
          const uuid = await new UuidPodStore(store).schedule(node, manifest);
          return { uuid, key: uuidPodKey(uuid) };
        }
        const intent = new PodTree(store, 'intent');
        await intent.setPod(node, manifest);
        return { uuid: '', key: intent.key(node, manifest.id) };
      });
      const report: ScheduleResult = {
        podId: manifest.id,
        podUniqueKey: result.uuid,
        node,
        key: result.key,
        sha: manifest.sha(),
        signed: manifest.clearsigned !== undefined,
      };
      emit(ctx.io, options, report, (r) =>
        [
          `${style.green(ctx.io, 'scheduled')} ${r.podId}${r.podUniqueKey ? ` (uuid ${r.podUniqueKey})` : ''} on ${r.node}`,
          `key  ${r.key}`,
          `sha  ${r.sha}${r.signed ? '' : style.dim(ctx.io, '  (unsigned)')}`,
        ].join('\n'),
      );
      await waitIfAsked(ctx, options, wait, {
        node,
        pod: result.uuid || manifest.id,
        want: 'running',
        healthChecked: manifest.statusCheck() !== undefined,
      });
    }),
  );
}
