import { chmod, lstat, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { walk } from './walk.js';

/** What one archive entry is. Hoist's extractor refuses devices and FIFOs; tests pack them anyway. */
export type ArtifactEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'link'
  | 'character-device'
  | 'block-device'
  | 'fifo';

/** One entry of an artifact to pack. */
export interface ArtifactEntry {
  /** Path inside the archive, e.g. `bin/launch` (directories may end in `/`). */
  name: string;
  /** @default 'file' */
  type?: ArtifactEntryType;
  /** Permission bits. @default 0o755 for directories, 0o644 otherwise */
  mode?: number;
  /** File content. @default empty */
  content?: string | Uint8Array;
  /** Target of a symlink, or the earlier entry a hard link (`link`) names. */
  linkname?: string;
  /** @default {@link PackArtifactOptions.mtime} */
  mtime?: Date;
  /** Owner recorded in the archive. @default 0 (root; the extractor chowns to the pod user anyway) */
  uid?: number;
  /** @default 0 */
  gid?: number;
  /** Device numbers, for device entries. */
  devmajor?: number;
  devminor?: number;
}

/** Options of {@link packArtifact}. */
export interface PackArtifactOptions {
  /** Gzip the tar (hoist accepts both). @default true */
  gzip?: boolean;
  /** Modification time of entries that do not set one. @default the Unix epoch, so packing is deterministic */
  mtime?: Date;
  /**
   * Also write the archive to this file: through a temporary file and a rename (a reader never
   * sees half an artifact), mode 0644 whatever the umask (the preparer refuses local artifacts
   * others may write).
   */
  output?: string;
}

/**
 * Reads a directory into entries as `tar -C dir .` would, but deterministically: a `./` root entry
 * with the directory's mode, then every path sorted, with modes and symlink targets from disk.
 * Owners are not recorded (root); sockets and other special files are skipped.
 */
async function entriesOfDirectory(dir: string): Promise<ArtifactEntry[]> {
  const root = await lstat(dir);
  const entries: ArtifactEntry[] = [{ name: './', type: 'directory', mode: root.mode & 0o7777 }];
  const paths = (await walk(dir)).map((item) => item.relative).sort();
  for (const relative of paths) {
    const path = join(dir, relative);
    const info = await lstat(path);
    const mode = info.mode & 0o7777;
    const name = `./${relative}`;
    if (info.isDirectory()) entries.push({ name: `${name}/`, type: 'directory', mode });
    else if (info.isSymbolicLink())
      entries.push({ name, type: 'symlink', mode, linkname: await readlink(path) });
    else if (info.isFile()) entries.push({ name, mode, content: await readFile(path) });
  }
  return entries;
}

/**
 * Packs a Hoist artifact: a tar (gzipped by default) built in-process with tar-stream, from a list
 * of entries or from a directory on disk. The same input always gives the same bytes: entries keep
 * their order (a directory is read sorted), owners are root and mtimes are fixed unless given.
 *
 * @param source - the entries, in archive order, or a directory to pack (like `tar -C dir .`)
 * @returns the archive's bytes (also written to `options.output` when set)
 * @throws a Node.js file-system error when the directory or `output` cannot be read or written
 *
 * @example
 * ```ts
 * import { packArtifact } from '@p2/hoist';
 *
 * await packArtifact(
 *   [
 *     { name: 'bin/', type: 'directory' },
 *     { name: 'bin/launch', mode: 0o755, content: '#!/bin/sh\nexec echo hello\n' },
 *   ],
 *   { output: '/tmp/artifacts/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz' },
 * );
 * ```
 */
export async function packArtifact(
  source: string | readonly ArtifactEntry[],
  options: PackArtifactOptions = {},
): Promise<Buffer> {
  const entries = typeof source === 'string' ? await entriesOfDirectory(source) : source;
  const mtime = options.mtime ?? new Date(0);
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const content = entry.content === undefined ? undefined : Buffer.from(entry.content);
    const header = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : 0o644),
      mtime: entry.mtime ?? mtime,
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
      ...(entry.devmajor === undefined ? {} : { devmajor: entry.devmajor }),
      ...(entry.devminor === undefined ? {} : { devminor: entry.devminor }),
    };
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (content) pack.entry({ ...header, size: content.length }, content, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await collected;
  const raw = Buffer.concat(chunks);
  const bytes = options.gzip === false ? raw : gzipSync(raw);
  if (options.output) {
    const tmp = `${options.output}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, bytes, { mode: 0o644 });
      await chmod(tmp, 0o644);
      await rename(tmp, options.output);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }
  return bytes;
}
