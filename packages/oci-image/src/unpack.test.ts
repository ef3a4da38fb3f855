/**
 * Real layouts made by `umoci` (a busybox rootfs in two layers, the second with whiteouts) and
 * `skopeo` (an oci-archive tarball, extracted the way the preparer would: by Hoist).
 */
import { lstat, open, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { extractArchive } from '@p2/hoist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isImageLayout, OciImageErrorCode, unpackImage } from './index.js';
import { fileList, run, tempDir } from './test-support.js';

let dir: string;
let cleanup: () => Promise<void>;
let layout: string;
/** What `umoci unpack` made of the image: the reference file list. */
let umociRootfs: string;

/**
 * An umoci image `img`: layer 1 = busybox, `bin/sh -> busybox`, `etc/gone`, `etc/old/a`;
 * layer 2 deletes `etc/gone` and `etc/old` (whiteouts) and adds `etc/new`. Tagged `img` and `other`.
 */
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:img`]);
  await run('umoci', ['unpack', '--image', `${layout}:img`, bundle]);
  await run('sh', [
    '-c',
    `mkdir -p ${rootfs}/bin ${rootfs}/etc/old && cp /bin/busybox ${rootfs}/bin/ && ln -s busybox ${rootfs}/bin/sh && echo a > ${rootfs}/etc/old/a && echo x > ${rootfs}/etc/gone`,
  ]);
  await run('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:img`, bundle]);
  await run('sh', [
    '-c',
    `rm -rf ${rootfs}/etc/gone ${rootfs}/etc/old && echo hi > ${rootfs}/etc/new`,
  ]);
  await run('umoci', ['repack', '--image', `${layout}:img`, bundle]);
  await run('umoci', [
    'config',
    '--image',
    `${layout}:img`,
    '--config.entrypoint',
    '/bin/sh',
    '--config.cmd',
    '-c',
    '--config.cmd',
    'echo hi',
    '--config.env',
    'FOO=bar',
    '--config.workingdir',
    '/etc',
    '--config.user',
    '1000:1000',
  ]);
  umociRootfs = join(dir, 'bundle-umoci', 'rootfs');
  await run('umoci', ['unpack', '--image', `${layout}:img`, join(dir, 'bundle-umoci')]);
}, 60_000);

afterAll(() => cleanup());

describe('an umoci-built image', () => {
  it('is an image layout', async () => {
    expect(await isImageLayout(layout)).toBe(true);
    expect(await isImageLayout(dir)).toBe(false);
  });

  it('unpacks two layers with whiteouts into the same files as `umoci unpack`', async () => {
    const rootfs = join(dir, 'rootfs-p2');
    const result = await unpackImage(layout, rootfs, { ref: 'img' });
    expect(result.layers).toBe(2);
    expect(result.rootfs).toBe(rootfs);
    expect(result.manifestDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.bytes).toBeGreaterThan(1_000_000);
    expect(result.process).toEqual({
      args: ['/bin/sh', '-c', 'echo hi'],
      env: expect.arrayContaining(['FOO=bar']),
      cwd: '/etc',
      user: '1000:1000',
    });
    expect(await readlink(join(rootfs, 'bin/sh'))).toBe('busybox');
    expect(await readFile(join(rootfs, 'etc/new'), 'utf8')).toBe('hi\n');
    await expect(lstat(join(rootfs, 'etc/gone'))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(rootfs, 'etc/old'))).rejects.toThrow(/ENOENT/);
    const root = await lstat(rootfs);
    expect(root.mode & 0o7777).toBe(0o755);
    expect((await lstat(join(rootfs, 'bin/busybox'))).mode & 0o7777).toBe(0o755);
    expect(await fileList(rootfs)).toEqual(await fileList(umociRootfs));
  });

  it('refuses to choose between several refs, naming them', async () => {
    const twoRefs = join(dir, 'two-refs');
    await run('cp', ['-a', layout, twoRefs]);
    await run('umoci', ['tag', '--image', `${twoRefs}:img`, 'other']);
    const error = await unpackImage(twoRefs, join(dir, 'rootfs-two')).catch((e: unknown) => e);
    expect(isP2Error(error, OciImageErrorCode.REF_NOT_FOUND)).toBe(true);
    expect((error as Error).message).toContain('"img", "other"');
    await expect(lstat(join(dir, 'rootfs-two'))).rejects.toThrow(/ENOENT/);
    await expect(unpackImage(twoRefs, join(dir, 'rootfs-x'), { ref: 'nope' })).rejects.toThrow(
      /no manifest named "nope"/,
    );
    expect((await unpackImage(twoRefs, join(dir, 'rootfs-other'), { ref: 'other' })).layers).toBe(
      2,
    );
  });

  it('refuses a tampered layer blob before writing anything', async () => {
    const tampered = join(dir, 'tampered');
    await run('cp', ['-a', layout, tampered]);
    const manifest = await unpackImage(tampered, join(dir, 'rootfs-pre'), { ref: 'img' });
    const manifestJson = JSON.parse(
      await readFile(join(tampered, 'blobs/sha256', manifest.manifestDigest.slice(7)), 'utf8'),
    ) as { layers: Array<{ digest: string }> };
    const layerDigest = manifestJson.layers[1]!.digest;
    const file = await open(join(tampered, 'blobs/sha256', layerDigest.slice(7)), 'r+');
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, 20);
    await file.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, 20);
    await file.close();
    const rootfs = join(dir, 'rootfs-tampered');
    const error = await unpackImage(tampered, rootfs, { ref: 'img' }).catch((e: unknown) => e);
    expect(isP2Error(error, OciImageErrorCode.BLOB_MISMATCH)).toBe(true);
    expect((error as Error).message).toContain(layerDigest);
    expect((error as { details: { digest: string } }).details.digest).toBe(layerDigest);
    await expect(lstat(rootfs)).rejects.toThrow(/ENOENT/);
  });

  it('refuses to unpack into an existing directory', async () => {
    await expect(unpackImage(layout, dir, { ref: 'img' })).rejects.toMatchObject({
      code: OciImageErrorCode.ROOTFS_EXISTS,
    });
  });

  it('unpacks a `skopeo copy … oci-archive:` tarball once Hoist has extracted it', async () => {
    const archive = join(dir, 'image.tar');
    await run('skopeo', ['copy', `oci:${layout}:img`, `oci-archive:${archive}:app`]);
    const extracted = join(dir, 'extracted');
    await extractArchive(archive, extracted);
    expect(await isImageLayout(extracted)).toBe(true);
    const rootfs = join(dir, 'rootfs-archive');
    const result = await unpackImage(extracted, rootfs);
    expect(result.process.args).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(await fileList(rootfs)).toEqual(await fileList(umociRootfs));
  });

  it('does not take a symlinked index.json for a layout', async () => {
    const linked = join(dir, 'linked');
    await run('cp', ['-a', layout, linked]);
    await run('rm', [join(linked, 'index.json')]);
    await writeFile(join(dir, 'index-elsewhere.json'), await readFile(join(layout, 'index.json')));
    await run('ln', ['-s', join(dir, 'index-elsewhere.json'), join(linked, 'index.json')]);
    expect(await isImageLayout(linked)).toBe(false);
    await expect(unpackImage(linked, join(dir, 'rootfs-linked'))).rejects.toMatchObject({
      code: OciImageErrorCode.LAYOUT_INVALID,
    });
  });
});
