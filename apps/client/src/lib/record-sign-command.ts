/** `p2 rc sign ID --key F` and `p2 ds sign ID --key F`: a deployer signs a record (delegated signing). */
import type { Command } from '@commander-js/extra-typings';
import { type CliContext, emit, run, style, withStore, withStoreFlags } from '@p2/cli-kit';
import { DsStore } from '@p2/daemon-set';
import { RcStore } from '@p2/rc';
import { recordSigner } from './record-signing.js';

/** Registers `sign` under `p2 rc` (`kind: 'rc'`) or `p2 ds` (`kind: 'ds'`). */
export function registerRecordSign(parent: Command, ctx: CliContext, kind: 'rc' | 'ds'): void {
  const what = kind === 'rc' ? 'replication controller' : 'daemon set';
  withStoreFlags(
    parent
      .command('sign')
      .description(
        `Sign a ${what} as a deployer: hosts with auth.delegation then run the manifest the controllers write for it (its pod, manifest and node selector as they are now)`,
      )
      .argument('<id>', `${what} id`)
      .requiredOption('--key <file>', 'secret key file (armored, or a binary secring.gpg)')
      .option('--passphrase-file <file>', 'file holding the secret key passphrase')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (id, options) => {
      const sign = (await recordSigner(ctx, { ...options, signKey: options.key }))!;
      const signed = await withStore(ctx, options, async (store) => {
        const record =
          kind === 'rc'
            ? await new RcStore(store).sign(id, sign)
            : await new DsStore(store).sign(id, sign, ctx.env.USER ?? '');
        return { id: record.id, podId: record.manifest.id, sha: record.manifest.sha() };
      });
      emit(
        ctx.io,
        options,
        { ...signed, kind: kind === 'rc' ? 'replication_controllers' : 'daemon_sets' },
        (r) =>
          `${style.green(ctx.io, 'signed')} ${what} ${r.id} (pod ${r.podId}, ${r.sha.slice(0, 12)})`,
      );
    }),
  );
}
