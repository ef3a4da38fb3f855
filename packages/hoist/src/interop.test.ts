/**
 * Archives made by GNU tar (`tar czf`, GNU and PAX formats: long names, PAX headers, hard links,
 * symlinks, odd modes) must install exactly as `tar xpzf --no-same-owner` extracts them.
 */
import { execFileSync } from 'node:child_process';
import { link, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractArchive } from './extract.js';
import { describeTree, tempDir } from './test-support.js';

let work: { dir: string; cleanup: () => Promise<void> };
const long = 'a-very-long-directory-name-that-goes-on-and-on'.repeat(3);

beforeAll(async () => {
  work = await tempDir('p2t-hoist-interop-');
  const src = join(work.dir, 'src');
  await mkdir(join(src, 'bin'), { recursive: true });
  await mkdir(join(src, long, long), { recursive: true });
  await mkdir(join(src, 'empty-dir'), { mode: 0o750 });
  await mkdir(join(src, 'ünïcødé ✓'), { recursive: true });
  await writeFile(join(src, 'bin', 'launch'), '#!/bin/sh\nexec sleep 1\n', { mode: 0o755 });
  await writeFile(join(src, long, long, `${long}.txt`), 'deep and long\n');
  await writeFile(join(src, 'ünïcødé ✓', 'fïlé'), 'unicode\n', { mode: 0o640 });
  await writeFile(join(src, 'big.bin'), Buffer.alloc(1024 * 1024 + 3, 7));
  await link(join(src, 'big.bin'), join(src, 'big-hardlink.bin'));
  await link(join(src, long, long, `${long}.txt`), join(src, 'hardlink-to-long.txt'));
  await symlink('bin/launch', join(src, 'launch-link'));
  await symlink(`${long}/${long}/${long}.txt`, join(src, 'long-symlink'));
  const when = new Date(1_700_000_000_000);
  await utimes(join(src, 'bin', 'launch'), when, when);
  await utimes(join(src, 'bin'), when, when);
});

afterAll(async () => {
  await work.cleanup();
});

describe.each(['gnu', 'pax', 'oldgnu'])('GNU tar --format=%s', (format) => {
  it('installs identically to tar xpzf', async () => {
    const archive = join(work.dir, `${format}.tar.gz`);
    execFileSync('tar', [`--format=${format}`, '-czf', archive, '-C', join(work.dir, 'src'), '.']);
    const byTar = join(work.dir, `${format}-tar`);
    await mkdir(byTar);
    execFileSync('tar', ['-xpzf', archive, '--no-same-owner', '-C', byTar]);
    const byHoist = join(work.dir, `${format}-hoist`);
    const result = await extractArchive(archive, byHoist);

    const expected = await describeTree(byTar, { mtimes: true });
    expect(await describeTree(byHoist, { mtimes: true })).toEqual(expected);
    expect(expected.some((line) => line.includes(`${long}.txt file 644 14 links=2`))).toBe(true);
    expect(result.hardLinks).toBe(2);
  });
});
