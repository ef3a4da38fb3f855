/** `p2 verify MANIFEST --keyring K`: checks a clearsigned manifest's signature through `@p2/auth`. */

import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { Keyring, type SignerInfo, verifyClearsigned } from '@p2/auth';
import { type CliContext, CliExit, ExitCode, emit, loadManifest, run, style } from '@p2/cli-kit';
import { lintManifest } from '@p2/manifest';

/** What `p2 verify` reports. */
interface VerifyResult {
  file: string;
  pod: string;
  sha: string;
  signer: SignerView;
  signers: SignerView[];
}

interface SignerView {
  fingerprint: string;
  keyId: string;
  userIds: string[];
  emails: string[];
  created: string;
}

const view = (s: SignerInfo): SignerView => ({
  fingerprint: s.fingerprint,
  keyId: s.keyId,
  userIds: s.userIds,
  emails: s.emails,
  created: s.created.toISOString(),
});

export function registerVerifyCommand(program: Command, ctx: CliContext): void {
  program
    .command('verify')
    .description("Check a clearsigned manifest's signature against a keyring")
    .argument('<manifest>', 'manifest file')
    .requiredOption('--keyring <file>', 'keyring (armored keys or a binary pubring.gpg)')
    .option('--min-rsa-bits <n>', 'accept RSA keys from this size (P2 accepted 1024)', '2047')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (file, options) => {
        const manifest = await loadManifest(ctx, file);
        if (!manifest.clearsigned) {
          throw new CliExit(
            ExitCode.INVALID_INPUT,
            `error: ${file} is not signed\nhint: sign it with \`p2 sign ${file} --key KEY\``,
          );
        }
        const minRSABits = Number(options.minRsaBits);
        if (!Number.isInteger(minRSABits) || minRSABits < 512) {
          throw new CliExit(
            ExitCode.USAGE,
            `error: --min-rsa-bits must be a whole number ≥ 512, got ${options.minRsaBits}`,
          );
        }
        const keyring = await Keyring.fromFile(resolve(ctx.cwd, options.keyring));
        const verified = await verifyClearsigned(manifest.clearsigned, keyring, { minRSABits });
        const result: VerifyResult = {
          file,
          pod: manifest.id,
          sha: manifest.sha(),
          signer: view(verified.signer),
          signers: verified.signers.map(view),
        };
        const lint = lintManifest(manifest);
        emit(ctx.io, options, result, (r) =>
          [
            `${style.green(ctx.io, 'good signature')} on ${r.pod} (${r.sha.slice(0, 12)})`,
            ...r.signers.map(
              (s) => `  by ${s.fingerprint} ${s.userIds.join(', ')} at ${s.created}`,
            ),
            ...lint.errors.map((e) => `${style.yellow(ctx.io, 'warning')} ${e.path}: ${e.message}`),
          ].join('\n'),
        );
      }),
    );
}
