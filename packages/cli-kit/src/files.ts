/** Reading the files a command is given, with clear exits for the usual failures. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { lintManifest, type Manifest, parseManifest } from '@p2/manifest';
import { CliExit, ExitCode } from './exit-code.js';
import type { CliContext } from './run.js';

/**
 * Reads a file relative to the command's working directory (`what` names it for a directory).
 *
 * @throws CliExit {@link ExitCode.NOT_FOUND} when missing, {@link ExitCode.INVALID_INPUT} for a
 *   directory, {@link ExitCode.FAILURE} when unreadable.
 * @example await readInputFile(ctx, 'pod.yaml', 'manifest')
 */
export async function readInputFile(ctx: CliContext, file: string, what = 'file'): Promise<Buffer> {
  try {
    return await readFile(resolve(ctx.cwd, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliExit(ExitCode.NOT_FOUND, `error: no such file: ${file}`);
    if (code === 'EISDIR')
      throw new CliExit(ExitCode.INVALID_INPUT, `error: ${file} is a directory, not a ${what}`);
    throw new CliExit(ExitCode.FAILURE, `error: cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * Reads and parses a manifest file (plain or clearsigned); with `strict`, lint errors refuse it.
 *
 * @throws CliExit as {@link readInputFile}; {@link ExitCode.INVALID_INPUT} for lint errors.
 * @throws ManifestError `P2_MANIFEST_*` when it does not parse.
 * @example const manifest = await loadManifest(ctx, 'pod.yaml', { strict: true })
 */
export async function loadManifest(
  ctx: CliContext,
  file: string,
  options: { strict?: boolean } = {},
): Promise<Manifest> {
  const manifest = parseManifest(await readInputFile(ctx, file), { source: file });
  if (options.strict) {
    const { errors } = lintManifest(manifest);
    if (errors.length > 0) {
      const lines = errors.map((e) => `  ${e.path}: ${e.message}`).join('\n');
      throw new CliExit(
        ExitCode.INVALID_INPUT,
        `error: ${file} is not a valid pod manifest:\n${lines}\nhint: run \`p2 manifest check ${file}\` for details`,
      );
    }
  }
  return manifest;
}

/**
 * Fetches a manifest from an http(s) URL and refuses one with lint errors.
 *
 * @throws CliExit {@link ExitCode.NOT_FOUND} for a 404, {@link ExitCode.FAILURE} when unreachable
 *   or for another status, {@link ExitCode.INVALID_INPUT} for lint errors.
 * @throws ManifestError `P2_MANIFEST_*` when it does not parse.
 * @example const manifest = await fetchManifest('https://deploy.example.com/web.yaml')
 */
export async function fetchManifest(url: string): Promise<Manifest> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new CliExit(ExitCode.FAILURE, `error: cannot fetch ${url}: ${(error as Error).message}`);
  }
  if (response.status === 404) throw new CliExit(ExitCode.NOT_FOUND, `error: ${url} answered 404`);
  if (!response.ok)
    throw new CliExit(ExitCode.FAILURE, `error: ${url} answered ${response.status}`);
  const manifest = parseManifest(new Uint8Array(await response.arrayBuffer()), { source: url });
  const { errors } = lintManifest(manifest);
  if (errors.length > 0) {
    throw new CliExit(
      ExitCode.INVALID_INPUT,
      `error: ${url} is not a valid pod manifest:\n${errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`,
    );
  }
  return manifest;
}
