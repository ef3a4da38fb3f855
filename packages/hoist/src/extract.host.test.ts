/**
 * A disk that fills during extraction, for real: the staging directory is on a 2 MiB tmpfs this
 * test mounts (root only) and unmounts. The extraction must fail with a coded error naming the full
 * disk, leave nothing behind, and reject no promise that nobody handles (that crashed the preparer).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HoistErrorCodes } from './errors.js';
import { extractArchive } from './extract.js';
import { makeArchive } from './test-support.js';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
let work: string;
let mounted = false;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-hoist-enospc-'));
  if (!asRoot) return;
  await mkdir(join(work, 'disk'));
  await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'p2t-hoist-enospc', join(work, 'disk')]);
  mounted = true;
});
afterAll(async () => {
  if (mounted) await run('umount', ['-l', join(work, 'disk')]).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

it.runIf(asRoot)(
  'fails with P2_HOIST_IO naming the full disk, leaves nothing, rejects nothing unhandled',
  async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // 8 MiB of zeros: a few KiB compressed, four times the disk once extracted.
      const archive = await makeArchive(
        Array.from({ length: 1 }, (_, i) => ({
          header: { name: `data/zeros-${i}`, type: 'file' as const },
          content: Buffer.alloc(8 * 2 ** 20),
        })),
      );
      const path = join(work, 'app.tar.gz');
      await writeFile(path, archive);
      const error = await extractArchive(path, join(work, 'disk', '.staging-app')).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({
        code: HoistErrorCodes.IO,
        hint: expect.stringContaining('disk is full'),
      });
      expect((error as Error).message).toMatch(/ENOSPC/);
      expect(await readdir(join(work, 'disk'))).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 200)); // late rejections would land here
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  },
);
