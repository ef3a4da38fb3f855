/**
 * `p2 manifest check|digest|show FILE` — read a pod manifest from a file and check it, print its
 * SHA, or print the parsed model. One code path per command for `--json` and the human view.
 */
import type { Command } from '@commander-js/extra-typings';
import { type CliContext, ExitCode, emit, readInputFile, run, style } from '@p2/cli-kit';
import { checkManifest, type Manifest, type ManifestCheck, parseManifest } from '@p2/manifest';

/** What `p2 manifest check` reports (the same object is printed by `--json`). */
type CheckReport = { file: string } & ManifestCheck;

async function loadManifest(ctx: CliContext, file: string): Promise<Manifest> {
  return parseManifest(await readInputFile(ctx, file, 'manifest file'), { source: file });
}

function renderCheck(ctx: CliContext, r: CheckReport): string {
  const { io } = ctx;
  const lines = [
    `${r.valid ? style.green(io, 'ok') : style.red(io, 'invalid')}  ${r.file}`,
    `pod        ${r.id}${r.runAs !== r.id ? ` (runs as ${r.runAs})` : ''}`,
    `sha        ${r.sha}`,
    `signed     ${r.signed ? 'yes (clearsigned; signature not verified here)' : 'no'}`,
    `health     ${r.status ?? 'none (always passing)'}`,
    `launchables${r.launchables.length === 0 ? ' none' : ':'}`,
    ...r.launchables.map(
      (l) =>
        `  ${l.id}  ${l.type}  ${l.version === '' ? style.dim(io, '(no version)') : l.version}  ${l.location}`,
    ),
    ...r.errors.map((e) => `${style.red(io, 'error')}   ${e.path}: ${e.message}`),
    ...r.warnings.map((w) => `${style.yellow(io, 'warning')} ${w.path}: ${w.message}`),
  ];
  return lines.join('\n');
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
  );
}

/** Registers `p2 manifest` and its subcommands on `program`. */
export function registerManifestCommand(program: Command, ctx: CliContext): void {
  const manifest = program.command('manifest').description('Check, digest and show pod manifests');
  // A manifest that cannot be read or parsed is invalid input, whatever the error.
  const check = <Args extends unknown[]>(body: (...args: Args) => Promise<ExitCode>) =>
    run(ctx, body, ExitCode.INVALID_INPUT);

  manifest
    .command('check')
    .description(
      'Parse a manifest, apply the checks for new manifests, print its id, launchables and SHA',
    )
    .argument('<file>', 'manifest file (plain or clearsigned YAML)')
    .option('--json', 'print JSON')
    .action(
      check(async (file, options) => {
        const report: CheckReport = { file, ...checkManifest(await loadManifest(ctx, file)) };
        emit(ctx.io, options, report, (r) => renderCheck(ctx, r));
        return report.valid ? ExitCode.OK : ExitCode.INVALID_INPUT;
      }),
    );

  manifest
    .command('digest')
    .description("Print the manifest's SHA (P2's SHA-256 of its canonical form)")
    .argument('<file>', 'manifest file (plain or clearsigned YAML)')
    .option('--json', 'print JSON')
    .action(
      check(async (file, options) => {
        const m = await loadManifest(ctx, file);
        emit(ctx.io, options, { id: m.id, sha: m.sha() }, (d) => d.sha);
        return ExitCode.OK;
      }),
    );

  manifest
    .command('show')
    .description('Print the parsed manifest (canonical YAML, or the model with --json)')
    .argument('<file>', 'manifest file (plain or clearsigned YAML)')
    .option('--json', 'print JSON')
    .action(
      check(async (file, options) => {
        const m = await loadManifest(ctx, file);
        emit(ctx.io, options, jsonSafe(m.toJSON()), () => m.canonicalYaml());
        return ExitCode.OK;
      }),
    );
}
