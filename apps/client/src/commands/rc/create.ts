/** `p2 rc create` (P2: p2-rctl create). */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  collect,
  emit,
  loadManifest,
  parseAssignments,
  run,
  style,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { rcView } from '@p2/inspect';
import { RcStore } from '@p2/rc';
import { checkController } from '../../lib/liveness.js';
import { recordSigner, withSignKeyFlags } from '../../lib/record-signing.js';
import { waitForControllerIfAsked, waitRequest, withWaitFlags } from '../../lib/wait-pod.js';
import { renderRc } from './render.js';

export function registerRcCreate(rc: Command, ctx: CliContext): void {
  withStoreFlags(
    withWaitFlags(
      withSignKeyFlags(
        rc
          .command('create')
          .description('Create a replication controller (0 replicas unless --replicas)')
          .requiredOption('-m, --manifest <file>', 'pod manifest')
          .requiredOption(
            '-n, --node-selector <selector>',
            'nodes it may place pods on, e.g. "role=web"',
          )
          .option('-r, --replicas <n>', 'initial replica count', '0')
          .option(
            '-p, --pod-label <k=v>',
            'label for every pod it schedules (repeatable)',
            collect,
            [],
          )
          .option('--rc-label <k=v>', 'label on the controller (repeatable)', collect, [])
          .option('-a, --availability-zone <az>', 'injected into pod labels as availability_zone')
          .option('-c, --cluster-name <name>', 'injected into pod labels as cluster_name')
          .option(
            '--allocation-strategy <s>',
            'static_strategy or dynamic_strategy',
            'static_strategy',
          )
          .option('--spread-key <label>', 'spread replicas across the values of this node label')
          .option('--disabled', 'create disabled'),
        'sign the RC as a deployer (delegated signing: hosts then run what the controllers write for it)',
      ),
      'wait until its replicas run the manifest (needs p2-controllers running)',
    ).option('--json', 'print JSON'),
  ).action(
    run(ctx, async (options) => {
      const manifest = await loadManifest(ctx, options.manifest, { strict: true });
      const wait = waitRequest(options);
      const sign = await recordSigner(ctx, options);
      const { created, controller } = await withStore(ctx, options, async (store) => {
        const created = await new RcStore(store).create({
          manifest,
          ...(sign ? { sign } : {}),
          nodeSelector: options.nodeSelector,
          replicasDesired: wholeNumber(options.replicas, '--replicas'),
          podLabels: parseAssignments(options.podLabel, 'a pod label'),
          rcLabels: parseAssignments(options.rcLabel, 'an RC label'),
          allocationStrategy: options.allocationStrategy,
          disabled: Boolean(options.disabled),
          ...(options.availabilityZone ? { availabilityZone: options.availabilityZone } : {}),
          ...(options.clusterName ? { clusterName: options.clusterName } : {}),
          ...(options.spreadKey ? { topologySpreadKey: options.spreadKey } : {}),
        });
        return {
          created,
          controller: await checkController(ctx, store, 'rc', created.id, { justCreated: true }),
        };
      });
      emit(
        ctx.io,
        options,
        { ...rcView(created), controller },
        (v) => `${style.green(ctx.io, 'created')} ${renderRc(ctx.io, v)}`,
      );
      await waitForControllerIfAsked(ctx, options, wait, { kind: 'rc', id: created.id });
    }),
  );
}
