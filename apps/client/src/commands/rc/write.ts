/** `p2 rc set-replicas|enable|disable|delete|update-manifest|update-strategy` (P2: p2-rctl). */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  emit,
  loadManifest,
  run,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { rcView } from '@p2/inspect';
import { RcStore } from '@p2/rc';
import { recordSigner, withSignKeyFlags } from '../../lib/record-signing.js';
import { waitForControllerIfAsked, waitRequest, withWaitFlags } from '../../lib/wait-pod.js';

export function registerRcWrite(rc: Command, ctx: CliContext): void {
  withStoreFlags(
    withWaitFlags(
      rc
        .command('set-replicas')
        .description('Set the desired replica count')
        .argument('<id>', 'RC id')
        .argument('<n>', 'replicas'),
      'wait until its replicas run the manifest (needs p2-controllers running)',
    ).option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, n, options) => {
      const replicas = wholeNumber(n, 'the replica count');
      const wait = waitRequest(options);
      const updated = await withStore(ctx, options, (store) =>
        new RcStore(store).setDesiredReplicas(id, replicas),
      );
      emit(
        ctx.io,
        options,
        rcView(updated),
        (v) => `${v.id}: replicas set to ${v.replicasDesired}`,
      );
      await waitForControllerIfAsked(ctx, options, wait, { kind: 'rc', id: updated.id });
    }),
  );

  for (const [name, enable] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    withStoreFlags(
      rc
        .command(name)
        .description(
          enable
            ? 'Let the controller place and remove pods again'
            : 'Stop the controller from changing intent',
        )
        .argument('<id>', 'RC id')
        .option('--json', 'print JSON'),
    ).action(
      run(ctx, async (id, options) => {
        const updated = await withStore(ctx, options, (store) =>
          enable ? new RcStore(store).enable(id) : new RcStore(store).disable(id),
        );
        emit(
          ctx.io,
          options,
          rcView(updated),
          (v) => `${v.id}: ${v.disabled ? 'disabled' : 'enabled'}`,
        );
      }),
    );
  }

  withStoreFlags(
    rc
      .command('delete')
      .description(
        'Delete a replication controller (refused while it wants replicas, unless --force)',
      )
      .argument('<id>', 'RC id')
      .option('-f, --force', 'delete even with replicas desired (its pods stay scheduled)')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      await withStore(ctx, options, (store) =>
        new RcStore(store).delete(id, { force: Boolean(options.force) }),
      );
      emit(ctx.io, options, { id, deleted: true }, (r) => `deleted ${r.id}`);
    }),
  );

  withStoreFlags(
    withWaitFlags(
      withSignKeyFlags(
        rc
          .command('update-manifest')
          .description(
            "Replace a controller's manifest; its pods' intent is rewritten on the next pass (use `p2 roll` for a gated update)",
          )
          .argument('<id>', 'RC id')
          .argument('<manifest>', 'manifest file (same pod id)'),
        'sign the updated RC as a deployer (else its signature is dropped)',
      ),
      'wait until its replicas run the manifest (needs p2-controllers running)',
    ).option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, file, options) => {
      const manifest = await loadManifest(ctx, file, { strict: true });
      const wait = waitRequest(options);
      const sign = await recordSigner(ctx, options);
      const updated = await withStore(ctx, options, (store) =>
        new RcStore(store).updateManifest(id, manifest, sign ? { sign } : {}),
      );
      emit(
        ctx.io,
        options,
        rcView(updated),
        (v) => `${v.id}: manifest of ${v.podId} is now ${v.sha.slice(0, 12)}`,
      );
      await waitForControllerIfAsked(ctx, options, wait, { kind: 'rc', id: updated.id });
    }),
  );

  withStoreFlags(
    rc
      .command('update-strategy')
      .description(
        'Change the allocation strategy: static_strategy keeps pods on nodes that stop matching, dynamic_strategy moves them (one node transfer at a time)',
      )
      .argument('<id>', 'RC id')
      .requiredOption('--strategy <s>', 'static_strategy or dynamic_strategy')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const updated = await withStore(ctx, options, (store) =>
        new RcStore(store).updateAllocationStrategy(id, options.strategy),
      );
      emit(
        ctx.io,
        options,
        rcView(updated),
        (v) => `${v.id}: allocation strategy is now ${v.allocationStrategy}`,
      );
    }),
  );
}
