/**
 * `p2 verify-artifact ARTIFACT --keyring K [--original-location URL]` — whether a signed build
 * manifest and a build signature vouch for an artifact (P2: p2-verify-artifact, same JSON keys),
 * through `@p2/auth`'s `checkArtifactSignatures`. The companion files are read beside the artifact
 * (`.sig`, `.manifest`, `.manifest.sig`), or fetched from beside `--original-location`.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { checkArtifactSignatures } from '@p2/auth';
import { type CliContext, CliExit, ExitCode, emit, readInputFile, run, style } from '@p2/cli-kit';
import { fetchBytes, verificationLocations } from '@p2/hoist';

export function registerVerifyArtifactCommand(program: Command, ctx: CliContext): void {
  program
    .command('verify-artifact')
    .description(
      'Check whether a signed build manifest and a build signature vouch for an artifact (P2: p2-verify-artifact)',
    )
    .argument('<artifact>', 'the artifact (.tar.gz)')
    .requiredOption('--keyring <file>', 'keys trusted to sign builds')
    .option('--original-location <url>', 'fetch the companion files from beside this URL instead')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (artifact, options) => {
        const artifactPath = resolve(ctx.cwd, artifact);
        await stat(artifactPath).catch(() => {
          throw new CliExit(ExitCode.NOT_FOUND, `error: no such file: ${artifact}`);
        });
        const urls = verificationLocations(options.originalLocation ?? artifactPath);
        const companion = (where: string) =>
          (options.originalLocation ? fetchBytes(where) : readInputFile(ctx, where)).then(
            (bytes) => new Uint8Array(bytes),
            () => undefined,
          );
        const [signature, buildManifest, buildManifestSignature] = await Promise.all([
          companion(urls.signature),
          companion(urls.manifest),
          companion(urls.manifestSignature),
        ]);
        const report = await checkArtifactSignatures(
          {
            artifactPath,
            location: options.originalLocation ?? artifact,
            ...(signature ? { signature } : {}),
            ...(buildManifest ? { buildManifest } : {}),
            ...(buildManifestSignature ? { buildManifestSignature } : {}),
          },
          resolve(ctx.cwd, options.keyring),
        );
        const view = {
          signedManifest: report.signedManifest,
          signedBuild: report.signedBuild,
          manifestError: report.manifestError ?? null,
          buildError: report.buildError ?? null,
        };
        const mark = (ok: boolean) => (ok ? style.green(ctx.io, 'yes') : style.red(ctx.io, 'no'));
        emit(ctx.io, options, view, (r) =>
          [
            `signed build manifest  ${mark(r.signedManifest)}${r.manifestError ? `  (${r.manifestError})` : ''}`,
            `build signature        ${mark(r.signedBuild)}${r.buildError ? `  (${r.buildError})` : ''}`,
          ].join('\n'),
        );
      }),
    );
}
