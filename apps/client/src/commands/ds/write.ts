/** `p2 ds enable|disable|delete|update` (P2: p2-dsctl). */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  durationMs,
  emit,
  loadManifest,
  run,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { DsStore, testSelector, updateDaemonSet } from '@p2/daemon-set';
import { dsView } from '@p2/inspect';
import { LabelStore } from '@p2/keyspace';
import { recordSigner, withSignKeyFlags } from '../../lib/record-signing.js';
import { waitForControllerIfAsked, waitRequest, withWaitTimeoutFlags } from '../../lib/wait-pod.js';

export function registerDsWrite(ds: Command, ctx: CliContext): void {
  for (const name of ['enable', 'disable', 'delete'] as const) {
    withStoreFlags(
      ds
        .command(name)
        .description(
          name === 'delete'
            ? 'Delete a daemon set; the daemon set farm then unschedules its pods (orphan sweep, within a minute by default)'
            : `${name[0]?.toUpperCase()}${name.slice(1)} a daemon set`,
        )
        .argument('<id>', 'daemon set id')
        .option('--json', 'print JSON'),
    ).action(
      run(ctx, async (id, options) => {
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
      }),
    );
  }

  withStoreFlags(
    withWaitTimeoutFlags(
      withSignKeyFlags(
        ds
          .command('update')
          .description(
            'Change a daemon set; only fields that differ count (P2: p2-dsctl update). The farm rolls a new manifest out within --min-health',
          )
          .argument('<id>', 'daemon set id')
          .option('-m, --manifest <file>', 'new pod manifest (same pod id)')
          .option('--selector <selector>', 'new node selector')
          .option('--everywhere', 'run on every node')
          .option('--min-health <n>', 'healthy replicas to keep while replacing')
          .option('--cluster-name <name>', 'new cluster name')
          .option('--timeout <duration>', 'per-node replication timeout'),
        'sign the updated daemon set as a deployer (else a new manifest or selector drops its signature)',
      ),
      'wait until every node it selects runs the manifest (needs p2-controllers running)',
    ).option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const manifest = options.manifest
        ? await loadManifest(ctx, options.manifest, { strict: true })
        : undefined;
      const wait = waitRequest({ ...options, timeout: options.waitTimeout }, '--wait-timeout');
      const sign = await recordSigner(ctx, options);
      const result = await withStore(ctx, options, async (store) => {
        const dss = new DsStore(store);
        const update = await updateDaemonSet(
          dss,
          id,
          {
            ...(manifest ? { manifest } : {}),
            ...(options.selector ? { nodeSelector: options.selector } : {}),
            ...(options.everywhere ? { everywhere: true } : {}),
            ...(options.minHealth
              ? { minHealth: wholeNumber(options.minHealth, '--min-health') }
              : {}),
            ...(options.clusterName ? { clusterName: options.clusterName } : {}),
            ...(options.timeout ? { timeoutMs: durationMs(options.timeout, '--timeout') } : {}),
            ...(sign ? { sign } : {}),
          },
          ctx.env.USER ?? '',
        );
        const nodes = update.changed.includes('nodeSelector')
          ? await testSelector(
              new LabelStore(store),
              update.after.nodeSelector,
              update.before.nodeSelector,
            )
          : undefined;
        return { ds: dsView(update.after), changed: update.changed, nodes };
      });
      emit(ctx.io, options, result, (r) =>
        [
          `${r.ds.id}: updated ${r.changed.join(', ')}`,
          ...(r.nodes
            ? [...r.nodes.added.map((n) => `  + ${n}`), ...r.nodes.removed.map((n) => `  - ${n}`)]
            : []),
        ].join('\n'),
      );
      await waitForControllerIfAsked(ctx, options, wait, { kind: 'ds', id: result.ds.id });
    }),
  );
}
