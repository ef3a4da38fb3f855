/**
 * `p2 pc watch ID` — one JSON line per membership change of a pod cluster: what an external syncer
 * (a load balancer updater) reads. Ends when the cluster is deleted (after a last line with
 * `"cluster":null`) or on SIGINT/SIGTERM, exit code 0 both ways.
 */
import type { Command } from '@commander-js/extra-typings';
import { type CliContext, run, withStore, withStoreFlags } from '@p2/cli-kit';
import { PodClusterStore } from '@p2/keyspace';
import { following } from '../../lib/follow.js';
import { pcView } from './shared.js';

export function registerPcWatch(pc: Command, ctx: CliContext): void {
  withStoreFlags(
    pc
      .command('watch')
      .description(
        'Print the member pods of a pod cluster as one JSON line on every change (for syncers)',
      )
      .argument('<id>', 'pod cluster id'),
  ).action(
    run(ctx, async (id, options) => {
      await following(ctx, ({ signal, onError, recovered }) =>
        withStore(ctx, options, async (store) => {
          for await (const m of new PodClusterStore(store).watchMembers(id, { signal, onError })) {
            recovered();
            const line = {
              id: m.clusterId,
              cluster: m.cluster ? pcView(m.cluster) : null,
              members: m.members,
            };
            ctx.io.stdout(`${JSON.stringify(line)}\n`);
          }
        }),
      );
    }),
  );
}
