import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { discoverEntryPoints, discoverScripts } from './entry-points.js';
import { HoistErrorCodes } from './errors.js';
import { tempDir } from './test-support.js';

let work: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  work = await tempDir('p2t-hoist-entry-');
});
afterEach(async () => {
  await work.cleanup();
});

/** Recreates one of P2's pkg/hoist test launchables (spec 02 §10) as files. */
async function tree(files: string[]): Promise<string> {
  const dir = join(work.dir, 'installs', 'testLaunchable_abc123');
  await mkdir(dir, { recursive: true });
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), '#!/bin/sh\n');
    await chmod(join(dir, file), 0o755);
  }
  return dir;
}

const names = (points: Array<{ relativePath: string; serviceSuffix: string }>) =>
  points.map((p) => `${p.relativePath} -> ${p.serviceSuffix}`);

describe('discoverEntryPoints (spec 02 §2.12)', () => {
  it('launch_script_only: bin/launch as a file is one service', async () => {
    const dir = await tree(['bin/launch']);
    expect(names(await discoverEntryPoints(dir))).toEqual(['bin/launch -> launch']);
    expect(names(await discoverEntryPoints(dir, { naming: 'uuid' }))).toEqual([
      'bin/launch -> bin__launch',
    ]);
  });

  it('single_script: bin/launch as a directory gives one service per entry', async () => {
    const dir = await tree(['bin/launch/script1']);
    expect(names(await discoverEntryPoints(dir))).toEqual(['bin/launch/script1 -> script1']);
    expect(names(await discoverEntryPoints(dir, { naming: 'uuid' }))).toEqual([
      'bin/launch/script1 -> bin__launch__script1',
    ]);
  });

  it('multiple_script: explicit entry points, files and directories, sorted', async () => {
    const dir = await tree([
      'bin/launch/script2',
      'bin/launch/script1',
      'bin/start',
      'bin/start2/start',
    ]);
    expect(
      names(await discoverEntryPoints(dir, { entryPoints: ['bin/launch', 'bin/start'] })),
    ).toEqual([
      'bin/launch/script1 -> script1',
      'bin/launch/script2 -> script2',
      'bin/start -> start',
    ]);
    expect(names(await discoverEntryPoints(dir, { entryPoints: ['bin/start2'] }))).toEqual([
      'bin/start2/start -> start',
    ]);
  });

  it('multiple_script: bin/start and bin/start2/start clash on the legacy service name', async () => {
    const dir = await tree(['bin/start', 'bin/start2/start']);
    await expect(
      discoverEntryPoints(dir, { entryPoints: ['bin/start', 'bin/start2'] }),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.ENTRY_POINT_CLASH,
      message:
        'entry points "bin/start" and "bin/start2/start" would both be the runit service "…__start"',
      details: { first: 'bin/start', second: 'bin/start2/start' },
    });
    // uuid pods name services by the whole path, so the same pair does not clash there
    expect(
      names(
        await discoverEntryPoints(dir, {
          entryPoints: ['bin/start', 'bin/start2'],
          naming: 'uuid',
        }),
      ),
    ).toEqual(['bin/start -> bin__start', 'bin/start2/start -> bin__start2__start']);
  });

  it('an explicit missing entry point is an error; the implicit bin/launch is optional', async () => {
    const dir = await tree(['bin/enable']);
    expect(await discoverEntryPoints(dir)).toEqual([]);
    await expect(discoverEntryPoints(dir, { entryPoints: ['bin/nope'] })).rejects.toMatchObject({
      code: HoistErrorCodes.ENTRY_POINT_MISSING,
      message: expect.stringContaining('"bin/nope"'),
    });
  });

  it('refuses entry points that leave the install directory', async () => {
    const dir = await tree(['bin/launch']);
    for (const entry of ['../../etc', '/bin/sh', '.']) {
      await expect(discoverEntryPoints(dir, { entryPoints: [entry] })).rejects.toMatchObject({
        code: HoistErrorCodes.ENTRY_POINT_INVALID,
      });
    }
  });

  it('reports an entry point listed twice', async () => {
    const dir = await tree(['bin/launch']);
    await expect(
      discoverEntryPoints(dir, { entryPoints: ['bin/launch', './bin/launch'] }),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.ENTRY_POINT_CLASH,
      message: 'entry point "bin/launch" is listed twice',
    });
  });
});

describe('discoverScripts', () => {
  it('finds enable, disable and post-activate; ignores post-install and directories', async () => {
    const dir = await tree(['bin/launch', 'bin/enable', 'bin/post-activate', 'bin/post-install']);
    await mkdir(join(dir, 'bin/disable'));
    expect(await discoverScripts(dir)).toEqual({
      enable: join(dir, 'bin/enable'),
      postActivate: join(dir, 'bin/post-activate'),
    });
  });

  it('follows a symlinked script', async () => {
    const dir = await tree(['libexec/enable']);
    await mkdir(join(dir, 'bin'));
    await symlink('../libexec/enable', join(dir, 'bin/enable'));
    expect(await discoverScripts(dir)).toEqual({ enable: join(dir, 'bin/enable') });
  });
});
