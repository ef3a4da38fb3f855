import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { lintManifest, parseManifest } from '@p2/manifest';
import { stringify } from 'yaml';
import { HoistError, HoistErrorCodes } from './errors.js';
import { packArtifact } from './pack.js';

/** Options of {@link bin2pod}. */
export interface Bin2PodOptions {
  /** Path of the executable. */
  executable: string;
  /** Pod id. @default the executable's base name without its extension */
  id?: string;
  /** Where the artifact and manifest go (created when missing). */
  workDir: string;
  /** Artifact URL with `{}` standing for the tarball's file name. @default `file://<tarball>` */
  location?: string;
  /** Health check port: `status: {http: true, port}` and `config.port`. */
  port?: number;
  /** Extra `config:` entries. */
  config?: Record<string, string>;
}

/** What {@link bin2pod} wrote (P2's p2-bin2pod field names, which it printed as JSON). */
export interface Bin2PodResult {
  tar_path: string;
  manifest_path: string;
  final_location: string;
  pod_id: string;
  version: string;
}

/**
 * P2's p2-bin2pod: wraps one executable into a Hoist artifact `<id>_<version>.tar.gz` holding
 * `bin/launch` (mode 0755) and writes `<id>.yaml`, a manifest with one hoist launchable named like
 * the pod. The version is the SHA-1 of the executable (40 hex digits), so packing the same
 * executable again gives the same artifact (P2 used 40 random letters g–z).
 *
 * @throws {@link HoistError} `P2_HOIST_BIN2POD_INVALID` when the executable is not a regular file
 *   or the manifest would not pass the preparer's checks (a bad id, …); a `ManifestError` when it
 *   does not parse; Node.js file-system errors
 *
 * @example
 * ```ts
 * const { tar_path, manifest_path } = await bin2pod({ executable: './server', workDir: 'out', port: 8080 });
 * ```
 */
export async function bin2pod(options: Bin2PodOptions): Promise<Bin2PodResult> {
  const executable = resolve(options.executable);
  const info = await stat(executable);
  if (!info.isFile())
    throw new HoistError(
      HoistErrorCodes.BIN2POD_INVALID,
      `${options.executable} is not a regular file`,
    );
  const bytes = await readFile(executable);
  const id = options.id ?? basename(executable).replace(/\.[^.]*$/, '');
  const version = createHash('sha1').update(bytes).digest('hex');
  const workDir = resolve(options.workDir);
  await mkdir(workDir, { recursive: true });
  const tarName = `${id}_${version}.tar.gz`;
  const tarPath = join(workDir, tarName);
  const finalLocation = options.location
    ? options.location.replaceAll('{}', tarName)
    : `file://${tarPath}`;

  const config: Record<string, unknown> = { ...(options.config ?? {}) };
  if (options.port !== undefined) config.port = options.port;
  const document: Record<string, unknown> = {
    id,
    launchables: { [id]: { launchable_type: 'hoist', location: finalLocation } },
    ...(Object.keys(config).length > 0 ? { config } : {}),
    ...(options.port !== undefined ? { status: { http: true, port: options.port } } : {}),
  };
  const text = stringify(document);
  // Refuse to write something the preparer would reject.
  const manifest = parseManifest(text, { source: `${id}.yaml` });
  const { errors } = lintManifest(manifest);
  if (errors.length > 0)
    throw new HoistError(
      HoistErrorCodes.BIN2POD_INVALID,
      errors.map((e) => `${e.path}: ${e.message}`).join('; '),
    );

  await packArtifact(
    [
      { name: 'bin/', type: 'directory', mode: 0o755 },
      { name: 'bin/launch', mode: 0o755, content: bytes },
    ],
    { output: tarPath },
  );
  const manifestPath = join(workDir, `${id}.yaml`);
  await writeFile(manifestPath, text, { mode: 0o644 });
  return {
    tar_path: tarPath,
    manifest_path: manifestPath,
    final_location: finalLocation,
    pod_id: id,
    version,
  };
}
