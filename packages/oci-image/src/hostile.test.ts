/**
 * Hand-built hostile layouts (tar-stream): every rule of Hoist artifacts, across layers, as root.
 */
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { isP2Error } from '@p2/errors';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OciImageErrorCode, unpackImage } from './index.js';
import { buildLayout, type TestLayer, tempDir, writeBlob } from './test-support.js';

let dir: string;
let cleanup: () => Promise<void>;
let layout: string;
let rootfs: string;
/** A host directory outside the rootfs that no layer may touch. */
let outside: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  layout = join(dir, 'layout');
  rootfs = join(dir, 'rootfs');
  outside = join(dir, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'victim'), 'keep');
});
afterEach(() => cleanup());

async function refused(layers: TestLayer[], code: string): Promise<Error> {
  await buildLayout(layout, layers);
  const error = await unpackImage(layout, rootfs).catch((e: unknown) => e);
  expect(isP2Error(error, code), String(error)).toBe(true);
  await expect(lstat(rootfs)).rejects.toThrow(/ENOENT/);
  expect(await readdir(outside)).toEqual(['victim']);
  return error as Error;
}

describe('layers and whiteouts', () => {
  it('applies an opaque directory and whiteouts whatever the entry order in the layer', async () => {
    await buildLayout(layout, [
      {
        entries: [
          { name: 'd/', type: 'directory' },
          { name: 'd/a', content: 'a' },
          { name: 'd/sub/b', content: 'b' },
          { name: 'keep', content: 'k' },
          { name: 'gone', content: 'g' },
        ],
      },
      {
        gzip: false,
        entries: [
          { name: 'd/c', content: 'c' },
          { name: 'd/.wh..wh..opq', content: '' },
          { name: '.wh.gone', content: '' },
        ],
      },
    ]);
    const result = await unpackImage(layout, rootfs);
    expect(result.layers).toBe(2);
    expect(await readdir(join(rootfs, 'd'))).toEqual(['c']);
    expect((await readdir(rootfs)).sort()).toEqual(['d', 'keep']);
    expect(result.process).toEqual({ args: ['/bin/sh'], env: [], cwd: '/' });
  });

  it('a whiteout of a symlink removes the link, not its target', async () => {
    await buildLayout(layout, [
      { entries: [{ name: 'link', type: 'symlink', linkname: join(outside, 'victim') }] },
      { entries: [{ name: '.wh.link', content: '' }] },
    ]);
    await unpackImage(layout, rootfs);
    expect(await readdir(rootfs)).toEqual([]);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('keep');
  });

  it('a whiteout below a symlink to a host directory deletes nothing on the host', async () => {
    await buildLayout(layout, [
      { entries: [{ name: 'etc', type: 'symlink', linkname: outside }] },
      {
        entries: [
          { name: 'etc/.wh.victim', content: '' },
          { name: 'etc/.wh..wh..opq', content: '' },
        ],
      },
    ]);
    await unpackImage(layout, rootfs);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('keep');
  });
});

describe('hostile entries', () => {
  it('refuses a path with ".."', async () => {
    const error = await refused(
      [
        {
          entries: [
            { name: 'ok', content: 'x' },
            { name: '../outside/evil', content: 'x' },
          ],
        },
      ],
      OciImageErrorCode.PATH_ESCAPE,
    );
    expect(error.message).toContain('"../outside/evil"');
  });

  it('refuses an absolute path', async () => {
    await refused(
      [{ entries: [{ name: `${outside}/evil`, content: 'x' }] }],
      OciImageErrorCode.PATH_ESCAPE,
    );
  });

  it('a later layer writing under an earlier symlink stays inside the rootfs', async () => {
    await buildLayout(layout, [
      {
        entries: [
          { name: 'abs', type: 'symlink', linkname: outside },
          { name: 'rel', type: 'symlink', linkname: '../../../../../../../../outside' },
        ],
      },
      {
        entries: [
          { name: 'abs/victim', content: 'pwned' },
          { name: 'rel/evil', content: 'pwned' },
        ],
      },
    ]);
    await unpackImage(layout, rootfs);
    expect(await readdir(outside)).toEqual(['victim']);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('keep');
    // Resolved as the container will see them: inside the rootfs.
    expect(await readFile(join(rootfs, outside, 'victim'), 'utf8')).toBe('pwned');
    expect(await readFile(join(rootfs, 'outside/evil'), 'utf8')).toBe('pwned');
    expect(await readlink(join(rootfs, 'abs'))).toBe(outside);
  });

  it('replaces a symlink named by a later file instead of writing through it', async () => {
    await buildLayout(layout, [
      { entries: [{ name: 'f', type: 'symlink', linkname: join(outside, 'victim') }] },
      { entries: [{ name: 'f', content: 'mine' }] },
    ]);
    await unpackImage(layout, rootfs);
    expect((await lstat(join(rootfs, 'f'))).isFile()).toBe(true);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('keep');
  });

  it('hard links resolve inside the rootfs only', async () => {
    await refused(
      [{ entries: [{ name: 'h', type: 'link', linkname: '../outside/victim' }] }],
      OciImageErrorCode.PATH_ESCAPE,
    );
    // Through a symlink to the host directory: resolved in the rootfs, where there is no victim.
    await refused(
      [
        { entries: [{ name: 'dir', type: 'symlink', linkname: outside }] },
        { entries: [{ name: 'h', type: 'link', linkname: 'dir/victim' }] },
      ],
      OciImageErrorCode.LINK_INVALID,
    );
  });

  it('hard links to a file of an earlier layer work', async () => {
    await buildLayout(layout, [
      { entries: [{ name: 'a', content: 'same' }] },
      { entries: [{ name: 'b', type: 'link', linkname: 'a' }] },
    ]);
    await unpackImage(layout, rootfs);
    expect((await lstat(join(rootfs, 'b'))).ino).toBe((await lstat(join(rootfs, 'a'))).ino);
  });

  it('skips device nodes and FIFOs, counting them in the log', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          lines.push(chunk.toString());
          callback();
        },
      }),
    );
    await buildLayout(layout, [
      {
        entries: [
          { name: 'dev/null', type: 'character-device' },
          { name: 'dev/sda', type: 'block-device' },
          { name: 'fifo', type: 'fifo' },
          { name: 'file', content: 'x' },
        ],
      },
    ]);
    await unpackImage(layout, rootfs, { logger });
    expect(await readdir(rootfs)).toEqual(['file']);
    const summary = JSON.parse(lines.find((line) => line.includes('image unpacked'))!) as {
      skippedSpecial: number;
    };
    expect(summary.skippedSpecial).toBe(3);
  });

  it('strips setuid, setgid and world-write, and owns everything as the owner', async () => {
    await buildLayout(layout, [
      {
        entries: [
          { name: 'suid', content: '#!/bin/sh', mode: 0o4755 },
          { name: 'sgid', content: '#!/bin/sh', mode: 0o2755 },
          { name: 'open', content: 'x', mode: 0o666 },
          { name: 'tmp/', type: 'directory', mode: 0o1777 },
          { name: 'l', type: 'symlink', linkname: 'suid' },
        ],
      },
    ]);
    await unpackImage(layout, rootfs, { owner: { uid: 4321, gid: 4322 } });
    const mode = async (name: string) => (await lstat(join(rootfs, name))).mode & 0o7777;
    expect(await mode('suid')).toBe(0o755);
    expect(await mode('sgid')).toBe(0o755);
    expect(await mode('open')).toBe(0o664);
    expect(await mode('tmp')).toBe(0o1775);
    for (const name of ['', 'suid', 'tmp', 'l']) {
      const info = await lstat(join(rootfs, name));
      expect([info.uid, info.gid]).toEqual([4321, 4322]);
    }
  });
});

describe('limits and media types', () => {
  it('stops at maxEntries, maxTotalBytes and maxFileBytes', async () => {
    await buildLayout(layout, [
      { entries: [{ name: 'a', content: 'x' }] },
      {
        entries: [
          { name: 'b', content: 'x' },
          { name: 'c', content: 'x' },
        ],
      },
    ]);
    await expect(unpackImage(layout, rootfs, { limits: { maxEntries: 2 } })).rejects.toMatchObject({
      code: OciImageErrorCode.TOO_MANY_ENTRIES,
    });
    await expect(lstat(rootfs)).rejects.toThrow(/ENOENT/);
    await expect(
      unpackImage(layout, rootfs, { limits: { maxTotalBytes: 2 } }),
    ).rejects.toMatchObject({ code: OciImageErrorCode.TOO_LARGE });
    await expect(
      unpackImage(layout, rootfs, { limits: { maxFileBytes: 0 } }),
    ).rejects.toMatchObject({ code: OciImageErrorCode.FILE_TOO_LARGE });
  });

  it('refuses zstd layers clearly', async () => {
    const error = await refused(
      [
        {
          entries: [{ name: 'a', content: 'x' }],
          mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
        },
      ],
      OciImageErrorCode.UNSUPPORTED_MEDIA_TYPE,
    );
    expect(error.message).toContain('zstd');
  });

  it('unpacks Docker v2 layer types and follows a nested index to linux/amd64', async () => {
    await buildLayout(layout, [
      {
        entries: [{ name: 'a', content: 'x' }],
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      },
    ]);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    const image = { ...index.manifests[0]!, platform: { os: 'linux', architecture: 'amd64' } };
    const arm = { ...image, platform: { os: 'linux', architecture: 'arm64' } };
    const nested = await writeBlob(
      layout,
      Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [arm, image] })),
      'application/vnd.oci.image.index.v1+json',
    );
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [nested] }),
    );
    const result = await unpackImage(layout, rootfs);
    expect(result.manifestDigest).toBe(image.digest);
    expect(await readFile(join(rootfs, 'a'), 'utf8')).toBe('x');
  });

  it('refuses a blob whose size differs from its descriptor', async () => {
    const [layer] = await buildLayout(layout, [{ entries: [{ name: 'a', content: 'x' }] }]);
    await writeFile(join(layout, 'blobs/sha256', layer!.slice(7)), 'short');
    const error = await unpackImage(layout, rootfs).catch((e: unknown) => e);
    expect(isP2Error(error, OciImageErrorCode.BLOB_MISMATCH)).toBe(true);
    expect((error as Error).message).toContain(layer);
    await expect(lstat(rootfs)).rejects.toThrow(/ENOENT/);
  });

  it('refuses a blob that is a symlink, even to the right bytes', async () => {
    const [layer] = await buildLayout(layout, [{ entries: [{ name: 'a', content: 'x' }] }]);
    const blob = join(layout, 'blobs/sha256', layer!.slice(7));
    await rename(blob, join(outside, 'blob'));
    await symlink(join(outside, 'blob'), blob);
    await expect(unpackImage(layout, rootfs)).rejects.toMatchObject({
      code: OciImageErrorCode.LAYOUT_UNTRUSTED,
    });
    await expect(lstat(rootfs)).rejects.toThrow(/ENOENT/);
  });

  it('counts whiteouts against maxEntries', async () => {
    await buildLayout(layout, [
      {
        entries: [
          { name: '.wh.a', content: '' },
          { name: '.wh.b', content: '' },
        ],
      },
    ]);
    await expect(unpackImage(layout, rootfs, { limits: { maxEntries: 1 } })).rejects.toMatchObject({
      code: OciImageErrorCode.TOO_MANY_ENTRIES,
    });
  });
});
