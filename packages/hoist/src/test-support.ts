/**
 * Helpers shared by the tests (not exported from the package).
 * @internal
 */
import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ArtifactEntry, packArtifact } from './pack.js';
import { walk } from './walk.js';

/** P2's archive fixtures (`fixtures/p2/archives` in this repository; origin and license in its README). */
export const fixtureArchives = fileURLToPath(
  new URL('../../../fixtures/p2/archives', import.meta.url),
);

export interface TestEntry {
  header: Omit<ArtifactEntry, 'content'>;
  content?: string | Buffer;
}

/** Builds a tar (gzipped unless `gzip: false`) from entries, with {@link packArtifact}. */
export function makeArchive(
  entries: TestEntry[],
  options: { gzip?: boolean } = {},
): Promise<Buffer> {
  return packArtifact(
    entries.map((entry) => ({
      mode: 0o644,
      ...entry.header,
      ...(entry.content === undefined ? {} : { content: entry.content }),
    })),
    { mtime: new Date(1_600_000_000_000), ...(options.gzip === false ? { gzip: false } : {}) },
  );
}

/** A fresh temporary directory, removed by the returned `cleanup`. */
export async function tempDir(
  prefix = 'p2t-hoist-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every path below `dir` (relative, sorted), with kind, mode, size, link target and content hash. */
export async function describeTree(
  dir: string,
  options: { mtimes?: boolean } = {},
): Promise<string[]> {
  const lines: string[] = [];
  const names = (await walk(dir)).map((item) => item.relative).sort();
  for (const name of names) {
    const path = join(dir, name);
    const info = await lstat(path);
    const mode = (info.mode & 0o7777).toString(8);
    const time = options.mtimes ? ` mtime=${Math.floor(info.mtimeMs / 1000)}` : '';
    if (info.isSymbolicLink()) lines.push(`${name} symlink ${await readlink(path)}${time}`);
    else if (info.isDirectory()) lines.push(`${name} dir ${mode}${time}`);
    else if (info.isFile()) {
      const content = await readFile(path);
      lines.push(
        `${name} file ${mode} ${content.length} links=${info.nlink} ${content.subarray(0, 16).toString('hex')}${time}`,
      );
    } else lines.push(`${name} other`);
  }
  return lines;
}
