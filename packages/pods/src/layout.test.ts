import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeEnvDir } from './envdir.js';
import { assertSafeLaunchableId, assertSafePodId, isUuid, PodLayout } from './layout.js';

const uuid = '0f3c2a8e-1b2c-4d5e-8f90-123456789abc';

describe('PodLayout', () => {
  it('lays out a legacy pod as P2 did', () => {
    const l = new PodLayout('/data/pods', 'hello');
    expect(l.home).toBe('/data/pods/hello');
    expect(l.currentManifestPath).toBe('/data/pods/hello/current_manifest.yaml');
    expect(l.installDir('app', '3c021aff048ca8117593f9c71e03b87cf72fd440')).toBe(
      '/data/pods/hello/app/installs/app_3c021aff048ca8117593f9c71e03b87cf72fd440',
    );
    expect(l.installDir('app', '')).toBe('/data/pods/hello/app/installs/app');
    expect(l.serviceName('app', 'bin/launch')).toBe('hello__app__launch');
    expect(l.serviceName('app', 'bin/launch/script1')).toBe('hello__app__script1');
    expect(l.launchableEnvDir('app')).toBe('/data/pods/hello/app/env');
  });

  it('lays out a uuid pod as P2 did', () => {
    const l = new PodLayout('/data/pods', 'hello', uuid);
    expect(l.uniqueName).toBe(`hello-${uuid}`);
    expect(l.serviceName('app', 'bin/launch')).toBe(`hello-${uuid}__app__bin__launch`);
  });

  it('recognises uuid pods from their home directory name', () => {
    const l = PodLayout.fromHomeName('/data/pods', `my-pod-${uuid}`);
    expect(l.podId).toBe('my-pod');
    expect(l.uniqueKey).toBe(uuid);
    expect(PodLayout.fromHomeName('/data/pods', 'plain').uniqueKey).toBe('');
    expect(isUuid(uuid)).toBe(true);
    expect(isUuid('nope')).toBe(false);
  });

  it.each([
    '',
    '..',
    '.hidden',
    '-flag',
    'a/b',
    'a b',
    'x\0y',
    'a'.repeat(201),
    'a__b',
    'ü',
    `legacy-${uuid}`,
    'hooks',
  ])('refuses the pod id %j', (id) => {
    expect(() => assertSafePodId(id)).toThrowError(
      expect.objectContaining({ code: 'P2_PODS_INVALID_POD_ID' }),
    );
  });

  it.each(['hello', 'p2-preparer', 'a_b.c-1', 'A1'])('accepts the pod id %j', (id) => {
    expect(() => assertSafePodId(id)).not.toThrow();
  });

  it.each(['../../../etc', '..', 'a__b', '', 'x/y', 'config', 'env', 'data'])(
    'refuses the launchable id %j before it names a path',
    (id) => {
      const l = new PodLayout('/data/pods', 'hello');
      expect(() => l.launchableRoot(id)).toThrowError(
        expect.objectContaining({ code: 'P2_PODS_INVALID_LAUNCHABLE_ID' }),
      );
      expect(() => l.installsDir(id)).toThrow();
      expect(() => l.launchableEnvDir(id)).toThrow();
    },
  );

  it.each(['config', 'env', 'data', 'current_manifest.yaml'])(
    'refuses the reserved launchable id %j on its own, so intent naming it is invalid',
    (id) => {
      expect(() => assertSafeLaunchableId(id)).toThrowError(
        expect.objectContaining({
          code: 'P2_PODS_INVALID_LAUNCHABLE_ID',
          message: expect.stringContaining('is reserved'),
        }),
      );
    },
  );

  it('refuses names that would let one pod remove the services of another', () => {
    expect(() => assertSafeLaunchableId('b__x')).toThrowError(/separates the parts/);
    expect(() => new PodLayout('/data/pods', 'a__b')).toThrowError(/separates the parts/);
  });
});

describe('writeEnvDir', () => {
  it('writes one file per variable without a trailing newline, and replaces atomically', async () => {
    const root = await mkdtemp(join(tmpdir(), 'p2t-envdir-'));
    try {
      const dir = join(root, 'env');
      await writeEnvDir(dir, { A: '1', STALE: 'x' }, { replace: true });
      await writeEnvDir(dir, { A: '2', B: 'two words' }, { replace: true });
      expect((await readdir(dir)).sort()).toEqual(['A', 'B']);
      expect(await readFile(join(dir, 'B'), 'utf8')).toBe('two words');
      // What a preparer killed between writing and renaming left (hidden, or an older visible name).
      await writeFile(join(dir, '.A.p2-tmp-0123456789ab'), 'half');
      await writeFile(join(dir, 'B.p2-tmp-0123456789ab'), 'half');
      await writeEnvDir(dir, { C: '' });
      expect((await readdir(dir)).sort()).toEqual(['A', 'B', 'C']);
      expect((await readdir(root)).sort()).toEqual(['env']);
      await expect(writeEnvDir(dir, { 'A=B': 'x' })).rejects.toThrow(
        /invalid environment variable name/,
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
