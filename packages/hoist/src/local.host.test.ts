/**
 * What root may read from local locations: needs root (ownership and mode rules apply only to
 * root) and reads a host device. Every directory is a `p2t-` temporary one, removed afterwards.
 */
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HoistErrorCodes } from './errors.js';
import { downloadArtifact, fetchBytes } from './fetch.js';

const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;
let work: string;
let allowed: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-hoist-local-host-'));
  await chmod(work, 0o755);
  allowed = join(work, 'artifacts');
  await mkdir(allowed, { mode: 0o755 });
  await chmod(allowed, 0o755);
  await writeFile(join(allowed, 'app.digest'), 'digest', { mode: 0o644 });
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function refusal(location: string, localRoots = [allowed]) {
  const started = performance.now();
  const error = await fetchBytes(location, { localRoots }).catch((e: unknown) => e);
  expect(performance.now() - started).toBeLessThan(2000);
  expect(error).toMatchObject({ code: HoistErrorCodes.LOCAL_LOCATION_REFUSED });
  return error as { message: string; hint: string };
}

describe.runIf(asRoot)('local locations, as root', () => {
  it('reads a root-owned file in a root-owned allowed directory under sticky /tmp', async () => {
    expect(
      (await fetchBytes(join(allowed, 'app.digest'), { localRoots: [allowed] })).toString(),
    ).toBe('digest');
  });

  it('refuses /dev/zero (a device) without reading it', async () => {
    for (const attempt of [
      () => fetchBytes('/dev/zero', { localRoots: ['/dev'] }),
      () => downloadArtifact('file:///dev/zero', join(work, 'dl'), { localRoots: ['/dev'] }),
    ]) {
      const started = performance.now();
      await expect(attempt()).rejects.toMatchObject({
        code: HoistErrorCodes.LOCAL_LOCATION_REFUSED,
        message: expect.stringContaining('is not a regular file (a character device)'),
      });
      expect(performance.now() - started).toBeLessThan(2000);
    }
  });

  it.each([0o775, 0o757, 0o777, 0o1777])(
    'refuses an allowed directory with mode %o (others could plant files there)',
    async (mode) => {
      await chmod(allowed, mode);
      const error = await refusal(join(allowed, 'app.digest'));
      expect(error.message).toContain(`directory ${allowed} is writable by group or others`);
      expect(error.hint).toContain('chmod go-w');
    },
  );

  it('refuses a writable directory between the allowed one and the file', async () => {
    await mkdir(join(allowed, 'uploads'), { mode: 0o777 });
    await chmod(join(allowed, 'uploads'), 0o777);
    await writeFile(join(allowed, 'uploads', 'a.digest'), 'x');
    const error = await refusal(join(allowed, 'uploads', 'a.digest'));
    expect(error.message).toContain(`directory ${join(allowed, 'uploads')} is writable`);
  });

  it('refuses a writable, non-sticky directory above the allowed one', async () => {
    await chmod(work, 0o777);
    const error = await refusal(join(allowed, 'app.digest'));
    expect(error.message).toContain(`directory ${work} is writable by group or others`);
  });

  it('refuses an allowed directory another user owns', async () => {
    await chown(allowed, NOBODY, NOBODY);
    const error = await refusal(join(allowed, 'app.digest'));
    expect(error.message).toContain(`directory ${allowed} is owned by uid ${NOBODY}, not root`);
  });

  it('refuses a file another user owns or others may write', async () => {
    await chown(join(allowed, 'app.digest'), NOBODY, NOBODY);
    expect((await refusal(join(allowed, 'app.digest'))).message).toContain(
      `the file is owned by uid ${NOBODY}, not root`,
    );
    await chown(join(allowed, 'app.digest'), 0, 0);
    await chmod(join(allowed, 'app.digest'), 0o664);
    expect((await refusal(join(allowed, 'app.digest'))).message).toContain(
      'the file is writable by group or others (mode 0664)',
    );
  });
});
