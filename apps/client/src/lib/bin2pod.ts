/**
 * P2's p2-bin2pod as a function: wraps one executable into a Hoist artifact
 * (`<id>_<version>.tar.gz` holding `bin/launch`, mode 0755) and writes a manifest with one hoist
 * launchable named like the pod. The version is the SHA-1 of the executable (40 hex digits), so
 * building the same executable again gives the same artifact name (P2 used 40 random letters g–z).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { lintManifest, parseManifest } from '@p2/manifest';
import tar from 'tar-stream';
import { stringify } from 'yaml';

export interface Bin2PodOptions {
  /** Path of the executable. */
  executable: string;
  /** Pod id (default: the executable's base name). */
  id?: string;
  /** Where the artifact and manifest go. */
  workDir: string;
  /** Artifact URL with `{}` standing for the tarball's file name (default: `file://<tarball>`). */
  location?: string;
  /** Health check port: `status: {http: true, port}` and `config.port`. */
  port?: number;
  /** Extra `config:` entries. */
  config?: Record<string, string>;
}

/** What p2-bin2pod printed (P2's field names). */
export interface Bin2PodResult {
  tar_path: string;
  manifest_path: string;
  final_location: string;
  pod_id: string;
  version: string;
}

/** Builds the artifact and manifest; returns their paths. */
export async function bin2pod(options: Bin2PodOptions): Promise<Bin2PodResult> {
  const executable = resolve(options.executable);
  const info = await stat(executable);
  if (!info.isFile()) throw new Error(`${options.executable} is not a regular file`);
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
  if (errors.length > 0) throw new Error(errors.map((e) => `${e.path}: ${e.message}`).join('; '));

  const pack = tar.pack();
  const mtime = new Date(0);
  pack.entry({ name: 'bin/', type: 'directory', mode: 0o755, mtime });
  pack.entry({ name: 'bin/launch', mode: 0o755, size: bytes.length, mtime }, bytes);
  pack.finalize();
  const tmp = `${tarPath}.tmp-${process.pid}`;
  await pipeline(pack, createGzip(), createWriteStream(tmp, { mode: 0o644 }));
  await rename(tmp, tarPath);
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
