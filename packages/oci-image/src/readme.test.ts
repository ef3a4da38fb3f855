/** Keeps the README's opening example true (a real `skopeo copy … oci-archive:` tarball). */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '@p2/hoist';
import { expect, it } from 'vitest';
import { isImageLayout, unpackImage } from './index.js';
import { buildLayout, run, tempDir } from './test-support.js';

it('the README example gives what it says', async () => {
  const { dir: tmp, cleanup } = await tempDir();
  try {
    const layout = join(tmp, 'layout');
    await buildLayout(
      layout,
      [
        {
          entries: [
            { name: 'srv/app', content: 'v1' },
            { name: 'srv/old', content: 'x' },
          ],
        },
        {
          entries: [
            { name: 'srv/app', content: 'v2' },
            { name: 'srv/.wh.old', content: '' },
          ],
        },
      ],
      { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo hi'], Env: ['FOO=bar'], WorkingDir: '/srv' },
    );
    await run('skopeo', ['copy', `oci:${layout}:latest`, `oci-archive:${tmp}/image.tar`]);

    await extractArchive(`${tmp}/image.tar`, `${tmp}/image`);
    expect(await isImageLayout(`${tmp}/image`)).toBe(true);
    await mkdir(`${tmp}/bundle`);
    const result = await unpackImage(`${tmp}/image`, `${tmp}/bundle/rootfs`);
    expect(result.process).toEqual({
      args: ['/bin/sh', '-c', 'echo hi'],
      env: ['FOO=bar'],
      cwd: '/srv',
    });
    expect(result.layers).toBe(2);
    expect(result.manifestDigest).toMatch(/^sha256:/);
    expect(await readFile(`${tmp}/bundle/rootfs/srv/app`, 'utf8')).toBe('v2');
    await expect(readFile(`${tmp}/bundle/rootfs/srv/old`)).rejects.toThrow(/ENOENT/);
  } finally {
    await cleanup();
  }
});
