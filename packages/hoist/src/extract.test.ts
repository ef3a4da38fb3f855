import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type HoistErrorCode, HoistErrorCodes } from './errors.js';
import { extractArchive } from './extract.js';
import {
  describeTree,
  fixtureArchives,
  makeArchive,
  type TestEntry,
  tempDir,
} from './test-support.js';

const archives = fixtureArchives;
let work: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  work = await tempDir();
});
afterEach(async () => {
  await work.cleanup();
});

async function extractBuffer(archive: Buffer, options: Parameters<typeof extractArchive>[2] = {}) {
  const path = join(work.dir, `archive-${randomBytes(4).toString('hex')}`);
  await writeFile(path, archive);
  const dest = join(work.dir, 'stage', 'out');
  await import('node:fs/promises').then((fs) =>
    fs.mkdir(join(work.dir, 'stage'), { recursive: true }),
  );
  return { dest, result: await extractArchive(path, dest, options) };
}

/** Extracting must fail with `code`, and the staging parent must hold nothing afterwards. */
async function expectRefused(archive: Buffer, code: HoistErrorCode, options = {}) {
  await expect(extractBuffer(archive, options)).rejects.toMatchObject({ code });
  expect(await readdir(join(work.dir, 'stage'))).toEqual([]);
}

describe('P2 fixtures (pkg/gzip/testdata, pkg/artifact/testdata)', () => {
  it('file_without_dir.tar.gz installs, creating the missing directory', async () => {
    const dest = join(work.dir, 'out');
    await extractArchive(join(archives, 'file_without_dir.tar.gz'), dest);
    expect(await describeTree(dest)).toEqual(['a dir 755', 'a/b file 600 1 links=1 0a']);
  });

  it('file_with_selflink.tar.gz installs (a hard link to itself is a no-op)', async () => {
    const dest = join(work.dir, 'out');
    const result = await extractArchive(join(archives, 'file_with_selflink.tar.gz'), dest);
    expect(await describeTree(dest)).toEqual(['a file 644 0 links=1 ']);
    expect(result.files).toBe(1);
  });

  it('path_with_parent.tar.gz is refused and writes nothing outside', async () => {
    const dest = join(work.dir, 'nested', 'out');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(work.dir, 'nested')));
    await expect(
      extractArchive(join(archives, 'path_with_parent.tar.gz'), dest),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.ARCHIVE_PATH_ESCAPE,
      message: expect.stringContaining('"../b"'),
    });
    expect(await readdir(join(work.dir, 'nested'))).toEqual([]);
    expect(existsSync(join(work.dir, 'b'))).toBe(false);
  });

  it('escaping_symlink.tar.gz is refused and writes nothing outside', async () => {
    const dest = join(work.dir, 'nested', 'out');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(work.dir, 'nested')));
    await expect(
      extractArchive(join(archives, 'escaping_symlink.tar.gz'), dest),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    });
    expect(await readdir(join(work.dir, 'nested'))).toEqual([]);
    expect(existsSync(join(work.dir, 'file'))).toBe(false);
  });

  it('myapp_123-plain-tar.tar.gz (a plain tar despite its name) is accepted', async () => {
    const dest = join(work.dir, 'out');
    const result = await extractArchive(join(archives, 'myapp_123-plain-tar.tar.gz'), dest);
    expect(result.gzipped).toBe(false);
    expect(await readFile(join(dest, 'myapp_123/app-manifest.yaml'), 'utf8')).toContain('43770');
  });
});

describe('hostile archives', () => {
  const cases: Array<[string, TestEntry[], HoistErrorCode]> = [
    [
      'an absolute path',
      [{ header: { name: '/etc/p2t-evil' }, content: 'x' }],
      HoistErrorCodes.ARCHIVE_PATH_ESCAPE,
    ],
    [
      'a .. in the middle',
      [{ header: { name: 'a/../../b' }, content: 'x' }],
      HoistErrorCodes.ARCHIVE_PATH_ESCAPE,
    ],
    [
      'an absolute symlink',
      [{ header: { name: 'l', type: 'symlink', linkname: '/etc/passwd' } }],
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    ],
    [
      'a symlink climbing out',
      [{ header: { name: 'a/l', type: 'symlink', linkname: '../../x' } }],
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    ],
    [
      'a symlink escaping through another symlink',
      [
        { header: { name: 's', type: 'symlink', linkname: '.' } },
        { header: { name: 'x', type: 'symlink', linkname: 's/..' } },
      ],
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    ],
    [
      'a symlink redirected later by another symlink',
      [
        { header: { name: 'x', type: 'symlink', linkname: 'd/../..' } },
        { header: { name: 'd', type: 'symlink', linkname: 'e/f' } },
      ],
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    ],
    [
      'a file written through an inside symlink',
      [
        { header: { name: 'd', type: 'directory', mode: 0o755 } },
        { header: { name: 'l', type: 'symlink', linkname: 'd' } },
        { header: { name: 'l/f' }, content: 'x' },
      ],
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    ],
    [
      'a hard link to an outside path',
      [{ header: { name: 'h', type: 'link', linkname: '../../etc/passwd' } }],
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    ],
    [
      'a hard link to an absolute path',
      [{ header: { name: 'h', type: 'link', linkname: '/etc/passwd' } }],
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    ],
    [
      'a hard link to a file not in the archive',
      [{ header: { name: 'h', type: 'link', linkname: 'nothere' } }],
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    ],
    [
      'a character device',
      [{ header: { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 } }],
      HoistErrorCodes.ARCHIVE_SPECIAL_FILE,
    ],
    [
      'a block device',
      [{ header: { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 } }],
      HoistErrorCodes.ARCHIVE_SPECIAL_FILE,
    ],
    ['a FIFO', [{ header: { name: 'p', type: 'fifo' } }], HoistErrorCodes.ARCHIVE_SPECIAL_FILE],
    [
      'a directory where a file was',
      [{ header: { name: 'a' }, content: 'x' }, { header: { name: 'a', type: 'directory' } }],
      HoistErrorCodes.ARCHIVE_CONFLICT,
    ],
    [
      'a file below a file',
      [
        { header: { name: 'a' }, content: 'x' },
        { header: { name: 'a/b' }, content: 'y' },
      ],
      HoistErrorCodes.ARCHIVE_CONFLICT,
    ],
  ];
  it.each(cases)('refuses %s and leaves no staging debris', async (_label, entries, code) => {
    await expectRefused(await makeArchive(entries), code);
    expect(existsSync('/etc/p2t-evil')).toBe(false);
  });

  it('refuses an archive with more entries than maxEntries', async () => {
    const entries = Array.from({ length: 11 }, (_, i) => ({
      header: { name: `f${i}` },
      content: 'x',
    }));
    await expectRefused(await makeArchive(entries), HoistErrorCodes.ARCHIVE_TOO_MANY_ENTRIES, {
      limits: { maxEntries: 10 },
    });
  });

  it('refuses a file larger than maxFileBytes before writing it', async () => {
    const archive = await makeArchive([{ header: { name: 'big' }, content: Buffer.alloc(2048) }]);
    await expectRefused(archive, HoistErrorCodes.ARCHIVE_FILE_TOO_LARGE, {
      limits: { maxFileBytes: 1024 },
    });
  });

  it('refuses archives whose files add up to more than maxTotalBytes', async () => {
    const entries = Array.from({ length: 4 }, (_, i) => ({
      header: { name: `f${i}` },
      content: Buffer.alloc(1000),
    }));
    await expectRefused(await makeArchive(entries), HoistErrorCodes.ARCHIVE_TOO_LARGE, {
      limits: { maxTotalBytes: 3000 },
    });
  });

  it('stops a gzip bomb of padding after the tar end (decompressed-size budget)', async () => {
    const tarBytes = await makeArchive([{ header: { name: 'a' }, content: 'x' }], { gzip: false });
    const bomb = gzipSync(Buffer.concat([tarBytes, Buffer.alloc(80 * 1024 * 1024)]));
    await expectRefused(bomb, HoistErrorCodes.ARCHIVE_TOO_LARGE, {
      limits: { maxTotalBytes: 1024 },
    });
  });

  it('refuses truncated gzip with its own code', async () => {
    const archive = await makeArchive([{ header: { name: 'a' }, content: randomBytes(50_000) }]);
    await expectRefused(
      archive.subarray(0, archive.length - 5000),
      HoistErrorCodes.ARCHIVE_TRUNCATED,
    );
  });

  it('refuses a truncated plain tar with the same code', async () => {
    const archive = await makeArchive([{ header: { name: 'a' }, content: randomBytes(50_000) }], {
      gzip: false,
    });
    await expectRefused(archive.subarray(0, 20_000), HoistErrorCodes.ARCHIVE_TRUNCATED);
  });

  it('refuses corrupt gzip data with its own code', async () => {
    const archive = Buffer.from(
      await makeArchive([{ header: { name: 'a' }, content: randomBytes(50_000) }]),
    );
    archive.fill(0x55, 100, 400);
    await expectRefused(archive, HoistErrorCodes.ARCHIVE_CORRUPT);
  });

  it('refuses a damaged tar header with the corrupt code', async () => {
    const archive = Buffer.from(
      await makeArchive([{ header: { name: 'a' }, content: 'x' }], { gzip: false }),
    );
    archive[10] = 0x41; // breaks the header checksum
    await expectRefused(gzipSync(archive), HoistErrorCodes.ARCHIVE_CORRUPT);
  });

  it('refuses something that is neither gzip nor tar', async () => {
    await expectRefused(
      Buffer.from('PK\u0003\u0004 this is a zip'),
      HoistErrorCodes.ARCHIVE_UNRECOGNIZED,
    );
  });
});

describe('what is kept and what is dropped', () => {
  it('strips setuid and setgid but keeps permission bits and mtimes', async () => {
    const { dest } = await extractBuffer(
      await makeArchive([
        {
          header: { name: 'bin/suid', mode: 0o4755, mtime: new Date(1_500_000_000_000) },
          content: '#!/bin/sh\n',
        },
        { header: { name: 'bin/sgid', mode: 0o2711 }, content: '#!/bin/sh\n' },
      ]),
    );
    expect((await stat(join(dest, 'bin/suid'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(dest, 'bin/sgid'))).mode & 0o7777).toBe(0o711);
    expect((await stat(join(dest, 'bin/suid'))).mtimeMs).toBe(1_500_000_000_000);
  });

  it('with shareReadAccess, gives group and others the owner’s read and execute bits, never write', async () => {
    const archive = await makeArchive([
      { header: { name: './', type: 'directory', mode: 0o700 } },
      { header: { name: 'bin', type: 'directory', mode: 0o700 } },
      { header: { name: 'bin/launch', mode: 0o700 }, content: '#!/bin/sh\n' },
      { header: { name: 'secret.txt', mode: 0o600 }, content: 'x' },
      { header: { name: 'odd', mode: 0o640 }, content: 'x' },
    ]);
    const { dest } = await extractBuffer(archive, { shareReadAccess: true });
    const modes = async (...names: string[]) =>
      Promise.all(names.map(async (n) => (await stat(join(dest, n))).mode & 0o7777));
    expect(await modes('.', 'bin', 'bin/launch', 'secret.txt', 'odd')).toEqual([
      0o755, 0o755, 0o755, 0o644, 0o644,
    ]);
  });

  it('applies read-only directory modes after filling them', async () => {
    const { dest } = await extractBuffer(
      await makeArchive([
        { header: { name: 'ro', type: 'directory', mode: 0o555 } },
        { header: { name: 'ro/f' }, content: 'x' },
      ]),
    );
    expect((await stat(join(dest, 'ro'))).mode & 0o777).toBe(0o555);
    expect(await readFile(join(dest, 'ro/f'), 'utf8')).toBe('x');
  });

  it('lets a later entry replace an earlier file, as tar does', async () => {
    const { dest } = await extractBuffer(
      await makeArchive([
        { header: { name: 'a' }, content: 'old' },
        { header: { name: 'a' }, content: 'new' },
        { header: { name: 'l', type: 'symlink', linkname: 'a' } },
        { header: { name: 'l' }, content: 'file now' },
      ]),
    );
    expect(await readFile(join(dest, 'a'), 'utf8')).toBe('new');
    expect((await lstat(join(dest, 'l'))).isFile()).toBe(true);
  });

  it('keeps symlinks and hard links that stay inside', async () => {
    const { dest, result } = await extractBuffer(
      await makeArchive([
        { header: { name: 'lib/real.so' }, content: 'elf' },
        { header: { name: 'lib/link.so', type: 'symlink', linkname: 'real.so' } },
        { header: { name: 'bin/up', type: 'symlink', linkname: '../lib' } },
        { header: { name: 'dangling', type: 'symlink', linkname: 'not/yet' } },
        { header: { name: 'lib/hard.so', type: 'link', linkname: 'lib/real.so' } },
      ]),
    );
    expect(await describeTree(dest)).toEqual([
      'bin dir 755',
      'bin/up symlink ../lib',
      'dangling symlink not/yet',
      'lib dir 755',
      'lib/hard.so file 644 3 links=2 656c66',
      'lib/link.so symlink real.so',
      'lib/real.so file 644 3 links=2 656c66',
    ]);
    expect(result).toMatchObject({ files: 1, symlinks: 3, hardLinks: 1 });
  });

  it.each([true, false])(
    'writes every size class byte for byte (synchronousSmallWrites: %s)',
    async (sync) => {
      const sizes = [0, 1, 100 * 1024, 200 * 1024, 600 * 1024];
      const contents = sizes.map((size) => randomBytes(size));
      const { dest } = await extractBuffer(
        await makeArchive(
          contents.map((content, i) => ({ header: { name: `f${i}`, mode: 0o640 }, content })),
        ),
        { synchronousSmallWrites: sync },
      );
      for (const [i, content] of contents.entries()) {
        expect((await readFile(join(dest, `f${i}`))).equals(content)).toBe(true);
        expect((await stat(join(dest, `f${i}`))).mode & 0o777).toBe(0o640);
      }
    },
  );

  it('extracts large files (streamed path) byte for byte', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 17);
    const { dest } = await extractBuffer(
      await makeArchive([{ header: { name: 'big.bin' }, content: big }]),
    );
    expect((await readFile(join(dest, 'big.bin'))).equals(big)).toBe(true);
  });

  it.runIf(process.getuid?.() === 0)(
    'chowns every entry to the given owner (root only)',
    async () => {
      const { dest } = await extractBuffer(
        await makeArchive([
          { header: { name: 'd', type: 'directory' } },
          { header: { name: 'd/f' }, content: 'x' },
          { header: { name: 'big' }, content: Buffer.alloc(600 * 1024) },
          { header: { name: 'l', type: 'symlink', linkname: 'd/f' } },
        ]),
        { owner: { uid: 65534, gid: 65534 } },
      );
      for (const path of ['', 'd', 'd/f', 'big', 'l']) {
        const info = await lstat(join(dest, path));
        expect([path, info.uid, info.gid]).toEqual([path, 65534, 65534]);
      }
    },
  );

  it('stops when aborted and removes what it wrote', async () => {
    const controller = new AbortController();
    controller.abort();
    await expectRefused(
      await makeArchive([{ header: { name: 'a' }, content: 'x' }]),
      HoistErrorCodes.ABORTED,
      {
        signal: controller.signal,
      },
    );
  });
});
