/**
 * `p2 sign MANIFEST --key SECRET`, `p2 verify MANIFEST --keyring K`, `p2 keyring list|add`:
 * clearsigned manifests as P2's keyring policy wants them, through `@p2/auth`.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  cosignManifest,
  Keyring,
  loadSecretKeys,
  type SignerInfo,
  signManifest,
  stampDeployMetadata,
  verifyClearsigned,
} from '@p2/auth';
import { lintManifest, parseGoDuration, parseManifest } from '@p2/manifest';
import type { Command } from 'commander';
import { ExitCode } from '../../exit-codes.js';
import { loadManifest, readInputFile, runCommand } from '../../lib/command.js';
import { table } from '../../lib/table.js';
import { CliExit, emit, type OutputOptions, style } from '../../output.js';
import type { ProgramContext } from '../../program.js';

interface SignOptions extends OutputOptions {
  key: string;
  passphraseFile?: string;
  output?: string;
  cosign?: boolean;
  serial?: string;
  expires?: string;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;

/** `--serial N` and `--expires TIME|DURATION` → the replay metadata to stamp (see @p2/auth). */
function deployMetadata(options: SignOptions, now: Date): { serial?: number; expires?: Date } {
  const out: { serial?: number; expires?: Date } = {};
  if (options.serial !== undefined) {
    const serial = Number(options.serial);
    if (!/^\d+$/.test(options.serial) || !Number.isSafeInteger(serial)) {
      throw new CliExit(
        ExitCode.USAGE,
        `error: --serial must be a whole number ≥ 0, got ${JSON.stringify(options.serial)}`,
      );
    }
    out.serial = serial;
  }
  if (options.expires !== undefined) {
    const ms = parseGoDuration(options.expires);
    const expires =
      ms !== undefined && ms > 0
        ? new Date(now.getTime() + ms)
        : RFC3339.test(options.expires)
          ? new Date(options.expires)
          : undefined;
    if (!expires || Number.isNaN(expires.getTime())) {
      throw new CliExit(
        ExitCode.USAGE,
        `error: --expires must be an RFC 3339 time (2026-12-01T00:00:00Z) or a duration from now (72h), got ${JSON.stringify(options.expires)}`,
      );
    }
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
export interface SignResult {
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

/** What `p2 verify` reports. */
export interface VerifyResult {
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

/** One key of a keyring as `p2 keyring list` prints it. */
export interface KeyView {
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

export function registerSignCommands(program: Command, ctx: ProgramContext): void {
  program
    .command('sign')
    .description('Clearsign a pod manifest (the form keyring deploy policies require)')
    .argument('<manifest>', 'manifest file')
    .requiredOption('--key <file>', 'secret key file (armored, or a binary secring.gpg)')
    .option('--passphrase-file <file>', 'file holding the secret key passphrase')
    .option('-o, --output <file>', 'write the signed manifest here (default: stdout)')
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
    .action(async (file: string, options: SignOptions) => {
      await runCommand(ctx, options, async () => {
        const manifest = await loadManifest(ctx, file, { strict: true });
        const metadata = deployMetadata(options, new Date());
        const stamping = metadata.serial !== undefined || metadata.expires !== undefined;
        const passphrase = options.passphraseFile
          ? (await readInputFile(ctx, options.passphraseFile))
              .toString('utf8')
              .replace(/\r?\n$/, '')
          : undefined;
        const keys = await loadSecretKeys(await readInputFile(ctx, options.key), {
          source: options.key,
          ...(passphrase === undefined ? {} : { passphrase }),
        });
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
        const out = options.output ? resolve(ctx.cwd, options.output) : null;
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
        return ExitCode.OK;
      });
    });

  program
    .command('verify')
    .description("Check a clearsigned manifest's signature against a keyring")
    .argument('<manifest>', 'manifest file')
    .requiredOption('--keyring <file>', 'keyring (armored keys or a binary pubring.gpg)')
    .option('--min-rsa-bits <n>', 'accept RSA keys from this size (P2 accepted 1024)', '2047')
    .option('--json', 'print JSON')
    .action(
      async (file: string, options: OutputOptions & { keyring: string; minRsaBits: string }) => {
        await runCommand(ctx, options, async () => {
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
              ...lint.errors.map(
                (e) => `${style.yellow(ctx.io, 'warning')} ${e.path}: ${e.message}`,
              ),
            ].join('\n'),
          );
          return ExitCode.OK;
        });
      },
    );

  const keyring = program.command('keyring').description('List and add keys of a keyring file');

  keyring
    .command('list')
    .description('List the public keys in a keyring file')
    .argument('<keyring>', 'keyring file')
    .option('--json', 'print JSON')
    .action(async (file: string, options: OutputOptions) => {
      await runCommand(ctx, options, async () => {
        await readInputFile(ctx, file);
        const keys = keyViews((await Keyring.fromFile(resolve(ctx.cwd, file))).keys);
        emit(ctx.io, options, keys, renderKeys);
        return ExitCode.OK;
      });
    });

  keyring
    .command('add')
    .description(
      'Add public keys to a keyring file (created if missing; keys already present are skipped)',
    )
    .argument('<keyring>', 'keyring file')
    .argument('<keys...>', 'files with public (or secret) keys; only public parts are added')
    .option('--json', 'print JSON')
    .action(async (file: string, keyFiles: string[], options: OutputOptions) => {
      await runCommand(ctx, options, async () => {
        const path = resolve(ctx.cwd, file);
        const existing = await readFile(path).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        });
        const current =
          existing && existing.length > 0
            ? await Keyring.fromBytes(existing, { source: file })
            : undefined;
        const have = new Set(current?.fingerprints() ?? []);
        // Keep the file's format: armored blocks are appended to armored (or new) keyrings, packets to binary ones.
        const armored = !existing || existing.length === 0 || existing.includes('-----BEGIN PGP');
        const added: KeyView[] = [];
        const skipped: string[] = [];
        const chunks: Array<string | Uint8Array> = [];
        for (const keyFile of keyFiles) {
          const incoming = await Keyring.fromBytes(await readInputFile(ctx, keyFile), {
            source: keyFile,
          });
          for (const key of incoming.keys) {
            const fingerprint = key.getFingerprint().toUpperCase();
            if (have.has(fingerprint)) {
              skipped.push(fingerprint);
              continue;
            }
            have.add(fingerprint);
            chunks.push(armored ? `${key.armor().trimEnd()}\n` : key.write());
            added.push(...keyViews([key]));
          }
        }
        if (chunks.length > 0) {
          const parts = [existing ?? Buffer.alloc(0), ...chunks.map((c) => Buffer.from(c))];
          if (
            armored &&
            existing &&
            existing.length > 0 &&
            !existing.toString('latin1').endsWith('\n')
          )
            parts.splice(1, 0, Buffer.from('\n'));
          const tmp = `${path}.tmp-${process.pid}`;
          await writeFile(tmp, Buffer.concat(parts), { mode: 0o644 });
          await rename(tmp, path);
        }
        const total = (await Keyring.fromFile(path).catch(() => undefined))?.size ?? 0;
        emit(ctx.io, options, { keyring: path, added, skipped, total }, (r) =>
          [
            ...r.added.map(
              (k) => `${style.green(ctx.io, 'added')}   ${k.fingerprint} ${k.userIds.join(', ')}`,
            ),
            ...r.skipped.map((f) => `${style.dim(ctx.io, 'present')} ${f}`),
            `${r.keyring}: ${r.total} key(s)`,
          ].join('\n'),
        );
        return ExitCode.OK;
      });
    });
}
