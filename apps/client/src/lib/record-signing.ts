/** Deployer keys for `p2 sign` and for signing controller records (delegated signing). */

import type { Command, OptionValues } from '@commander-js/extra-typings';
import { loadSecretKeys, signDelegationStatement } from '@p2/auth';
import { type CliContext, readInputFile } from '@p2/cli-kit';
import type { StatementSigner } from '@p2/keyspace';

/** The secret keys in `keyFile`, unlocked with the passphrase in `passphraseFile` when given. */
export async function loadSigningKeys(
  ctx: CliContext,
  keyFile: string,
  passphraseFile: string | undefined,
): ReturnType<typeof loadSecretKeys> {
  const passphrase = passphraseFile
    ? (await readInputFile(ctx, passphraseFile)).toString('utf8').replace(/\r?\n$/, '')
    : undefined;
  return loadSecretKeys(await readInputFile(ctx, keyFile), {
    source: keyFile,
    ...(passphrase === undefined ? {} : { passphrase }),
  });
}

/**
 * `--sign-key F [--passphrase-file P]` → a signer of record statements (RC, daemon set), or
 * undefined without `--sign-key`. Hosts with `auth.delegation` run what the controllers write for
 * a record only when a deployer signed it.
 */
export async function recordSigner(
  ctx: CliContext,
  options: { signKey?: string; passphraseFile?: string },
): Promise<StatementSigner | undefined> {
  if (!options.signKey) return undefined;
  const keys = await loadSigningKeys(ctx, options.signKey, options.passphraseFile);
  return (statement) => signDelegationStatement(statement, keys);
}

/**
 * Adds `--sign-key <file>` (described as `description`) and `--passphrase-file <file>` to a
 * command that writes a controller record: what {@link recordSigner} reads.
 */
export function withSignKeyFlags<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(command: Command<Args, Opts, Globals>, description: string) {
  return command
    .option('--sign-key <file>', description)
    .option('--passphrase-file <file>', "file holding the --sign-key key's passphrase");
}
