/** `p2 ds create` (P2: p2-dsctl create). */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  durationMs,
  emit,
  loadManifest,
  run,
  style,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { DsStore } from '@p2/daemon-set';
import { dsView } from '@p2/inspect';
import { checkController } from '../../lib/liveness.js';
import { recordSigner, withSignKeyFlags } from '../../lib/record-signing.js';
import { waitForControllerIfAsked, waitRequest, withWaitTimeoutFlags } from '../../lib/wait-pod.js';

export function registerDsCreate(ds: Command, ctx: CliContext): void {
  withStoreFlags(
    withWaitTimeoutFlags(
      withSignKeyFlags(
        ds
          .command('create')
          .description('Create a daemon set')
          .requiredOption('-m, --manifest <file>', 'pod manifest')
          .option('-n, --node-selector <selector>', 'nodes to run on')
          .option('--everywhere', 'run on every node')
          .requiredOption('--cluster-name <name>', 'cluster name')
          .option('--min-health <n>', 'healthy replicas to keep while replacing', '0')
          .option('--timeout <duration>', 'per-node replication timeout', '10m')
          .option('--disabled', 'create disabled'),
        'sign the daemon set as a deployer (delegated signing: hosts then run what the controllers write for it)',
      ),
      'wait until every node it selects runs the manifest (needs p2-controllers running)',
    ).option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const manifest = await loadManifest(ctx, options.manifest, { strict: true });
      const wait = waitRequest({ ...options, timeout: options.waitTimeout }, '--wait-timeout');
      const sign = await recordSigner(ctx, options);
      const { created, controller } = await withStore(ctx, options, async (store) => {
        const created = await new DsStore(store).create({
          manifest,
          ...(sign ? { sign } : {}),
          clusterName: options.clusterName,
          minHealth: wholeNumber(options.minHealth, '--min-health'),
          timeoutMs: durationMs(options.timeout, '--timeout'),
          disabled: Boolean(options.disabled),
          everywhere: Boolean(options.everywhere),
          user: ctx.env.USER ?? '',
          ...(options.nodeSelector ? { nodeSelector: options.nodeSelector } : {}),
        });
        return {
          created,
          controller: await checkController(ctx, store, 'ds', created.id, { justCreated: true }),
        };
      });
      emit(
        ctx.io,
        options,
        { ...dsView(created), controller },
        (v) =>
          `${style.green(ctx.io, 'created')} daemon set ${v.id} for ${v.podId} on "${v.nodeSelector}"`,
      );
      await waitForControllerIfAsked(ctx, options, wait, { kind: 'ds', id: created.id });
    }),
  );
}
