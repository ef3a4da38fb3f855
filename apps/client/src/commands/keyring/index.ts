/**
 * `p2 keyring list|add KEYRING`: the public keys of a keyring file, and adding keys to it
 * (`@p2/auth`'s addKeysToKeyringFile; the file keeps its armored or binary format).
 */

import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { addKeysToKeyringFile, Keyring } from '@p2/auth';
import { type CliContext, emit, readInputFile, run, style, table } from '@p2/cli-kit';

/** One key of a keyring as `p2 keyring list` prints it. */
interface KeyView {
  fingerprint: string;
  keyId: string;
  userIds: string[];
  created: string;
}

function keyViews(keys: Keyring['keys']): KeyView[] {
  return keys.map((key) => ({
    fingerprint: key.getFingerprint().toUpperCase(),
    keyId: key.getKeyID().toHex().toUpperCase(),
    userIds: key.getUserIDs(),
    created: key.getCreationTime().toISOString(),
  }));
}

function renderKeys(keys: KeyView[]): string {
  return table(
    ['FINGERPRINT', 'CREATED', 'USER IDS'],
    keys.map((k) => [k.fingerprint, k.created.slice(0, 10), k.userIds.join(', ')]),
  );
}

export function registerKeyringCommand(program: Command, ctx: CliContext): void {
  const keyring = program.command('keyring').description('List and add keys of a keyring file');

  keyring
    .command('list')
    .description('List the public keys in a keyring file')
    .argument('<keyring>', 'keyring file')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (file, options) => {
        await readInputFile(ctx, file);
        const keys = keyViews((await Keyring.fromFile(resolve(ctx.cwd, file))).keys);
        emit(ctx.io, options, keys, renderKeys);
      }),
    );

  keyring
    .command('add')
    .description(
      'Add public keys to a keyring file (created if missing; keys already present are skipped)',
    )
    .argument('<keyring>', 'keyring file')
    .argument('<keys...>', 'files with public (or secret) keys; only public parts are added')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (file, keyFiles, options) => {
        const path = resolve(ctx.cwd, file);
        const incoming = [];
        for (const keyFile of keyFiles)
          incoming.push({ bytes: await readInputFile(ctx, keyFile), source: keyFile });
        const merge = await addKeysToKeyringFile(path, incoming, { source: file });
        const added = keyViews(merge.added);
        const { skipped } = merge;
        const total = merge.keyring?.size ?? 0;
        emit(ctx.io, options, { keyring: path, added, skipped, total }, (r) =>
          [
            ...r.added.map(
              (k) => `${style.green(ctx.io, 'added')}   ${k.fingerprint} ${k.userIds.join(', ')}`,
            ),
            ...r.skipped.map((f) => `${style.dim(ctx.io, 'present')} ${f}`),
            `${r.keyring}: ${r.total} key(s)`,
          ].join('\n'),
        );
      }),
    );
}
