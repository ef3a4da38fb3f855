/** `p2 rc get|get-status|status|list` (P2: p2-rctl get, get-status, list). */
import type { Command } from '@commander-js/extra-typings';
import { type CliContext, emit, run, style, table, withStore, withStoreFlags } from '@p2/cli-kit';
import { inspectRc, listRcs } from '@p2/inspect';
import { encodeRcStatus } from '@p2/keyspace';
import { RcStore } from '@p2/rc';
import { checkController } from '../../lib/liveness.js';
import { renderRc } from './render.js';

export function registerRcRead(rc: Command, ctx: CliContext): void {
  withStoreFlags(
    rc
      .command('get')
      .description('Show a replication controller and the nodes its pods are on')
      .argument('<id>', 'RC id')
      .option('-m, --manifest', 'print only its manifest (YAML)')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const { view, manifest } = await withStore(ctx, options, async (store) => {
        const { rc, manifest } = await inspectRc(store, id);
        return {
          view: { ...rc, controller: await checkController(ctx, store, 'rc', id) },
          manifest,
        };
      });
      const raw = manifest.text();
      if (options.manifest && !options.json) ctx.io.stdout(raw.endsWith('\n') ? raw : `${raw}\n`);
      else emit(ctx.io, options, view, (v) => renderRc(ctx.io, v));
    }),
  );

  withStoreFlags(
    rc
      .command('get-status')
      .alias('status')
      .description(
        "Show a controller's status record: the node transfer in progress, if any (P2: p2-rctl get-status)",
      )
      .argument('<id>', 'RC id')
      .option(
        '--json',
        'print JSON ({"id", "status": {"nodeTransfer"}}; status null when there is none)',
      ),
  ).action(
    run(ctx, async (id, options) => {
      const status = await withStore(ctx, options, (store) => new RcStore(store).getStatus(id));
      const transfer = status?.node_transfer;
      const view = {
        id,
        status: status
          ? {
              nodeTransfer: transfer
                ? { id: transfer.id, oldNode: transfer.old_node, newNode: transfer.new_node }
                : null,
            }
          : null,
      };
      // People get P2's record as p2-rctl printed it; scripts get it camelCase, as every --json.
      emit(ctx.io, options, view, () =>
        status ? encodeRcStatus(status, '    ') : `no status found for ${id}`,
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
}
