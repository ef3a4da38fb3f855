/** Deployer keys for `p2 sign` and for signing controller records (delegated signing). */
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
