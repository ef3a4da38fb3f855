/**
 * `p2 sign MANIFEST --key SECRET [--cosign] [--serial N] [--expires WHEN]`: clearsigned manifests as
 * P2's keyring policy wants them, through `@p2/auth`.
 */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { cosignManifest, signManifest, stampDeployMetadata } from '@p2/auth';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  loadManifest,
  run,
  style,
  timeOrDuration,
  wholeNumber,
} from '@p2/cli-kit';
import { parseManifest } from '@p2/manifest';
import { loadSigningKeys } from '../../lib/record-signing.js';

/** `--serial N` and `--expires TIME|DURATION` → the replay metadata to stamp (see @p2/auth). */
function deployMetadata(
  options: { serial?: string; expires?: string },
  now: Date,
): { serial?: number; expires?: Date } {
  const out: { serial?: number; expires?: Date } = {};
  if (options.serial !== undefined) out.serial = wholeNumber(options.serial, '--serial');
  if (options.expires !== undefined) {
    const expires = timeOrDuration(options.expires, '--expires', now);
    if (expires.getTime() <= now.getTime()) {
      throw new CliExit(
        ExitCode.USAGE,
        `error: --expires ${options.expires} is in the past (${expires.toISOString()}); hosts would refuse the manifest`,
      );
    }
    out.expires = expires;
  }
  return out;
}

/** What `p2 sign` reports. */
interface SignResult {
  pod: string;
  sha: string;
  signers: string[];
  output: string | null;
  /** `deploy_serial` stamped into the signed text. */
  serial?: number;
  /** `deploy_expires` stamped into the signed text (ISO 8601). */
  expires?: string;
  signed?: string;
}

export function registerSignCommand(program: Command, ctx: CliContext): void {
  program
    .command('sign')
    .description('Clearsign a pod manifest (the form keyring deploy policies require)')
    .argument('<manifest>', 'manifest file')
    .requiredOption('--key <file>', 'secret key file (armored, or a binary secring.gpg)')
    .option('--passphrase-file <file>', 'file holding the secret key passphrase')
    .option('--out <file>', 'write the signed manifest here (default: stdout)')
    .option('--cosign', 'add a signature to an already signed manifest (M-of-N pods)')
    .option(
      '--serial <n>',
      'stamp deploy_serial: N into the signed text (hosts refuse any older serial afterwards)',
    )
    .option(
      '--expires <when>',
      'stamp deploy_expires: an RFC 3339 time or a duration from now (72h); hosts refuse it later',
    )
    .option('--json', 'print JSON (with the signed text when writing to stdout)')
    .action(
      run(ctx, async (file, options) => {
        const manifest = await loadManifest(ctx, file, { strict: true });
        const metadata = deployMetadata(options, new Date());
        const stamping = metadata.serial !== undefined || metadata.expires !== undefined;
        const keys = await loadSigningKeys(ctx, options.key, options.passphraseFile);
        let signed: string;
        if (manifest.clearsigned) {
          if (!options.cosign) {
            throw new CliExit(
              ExitCode.INVALID_INPUT,
              `error: ${file} is already signed\nhint: pass --cosign to add a signature, or sign the unsigned manifest`,
            );
          }
          if (stamping) {
            throw new CliExit(
              ExitCode.INVALID_INPUT,
              `error: ${file} is already signed, and --serial/--expires would change the signed text\nhint: stamp the unsigned manifest, then have each signer sign or --cosign that`,
            );
          }
          signed = new TextDecoder().decode(manifest.raw);
          for (const key of keys) signed = await cosignManifest(signed, key);
        } else {
          const text = new TextDecoder().decode(manifest.raw);
          signed = await signManifest(stamping ? stampDeployMetadata(text, metadata) : text, keys);
        }
        // What we wrote must read back as the same pod.
        const check = parseManifest(signed, { source: `${file} (signed)` });
        if (check.sha() !== manifest.sha()) {
          throw new CliExit(
            ExitCode.FAILURE,
            'error: the signed manifest does not parse back to the same pod',
          );
        }
        const out = options.out ? resolve(ctx.cwd, options.out) : null;
        if (out) await writeFile(out, signed.endsWith('\n') ? signed : `${signed}\n`);
        const result: SignResult = {
          pod: manifest.id,
          sha: manifest.sha(),
          signers: keys.map((k) => k.getFingerprint().toUpperCase()),
          output: out,
          ...(metadata.serial === undefined ? {} : { serial: metadata.serial }),
          ...(metadata.expires ? { expires: metadata.expires.toISOString() } : {}),
          ...(out ? {} : { signed }),
        };
        if (!out && !options.json) ctx.io.stdout(signed.endsWith('\n') ? signed : `${signed}\n`);
        else
          emit(
            ctx.io,
            options,
            result,
            (r) =>
              `${style.green(ctx.io, 'signed')} ${r.pod} → ${r.output} (by ${r.signers.join(', ')})`,
          );
      }),
    );
}
