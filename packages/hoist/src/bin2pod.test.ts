import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { parseManifest } from '@p2/manifest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bin2pod } from './bin2pod.js';
import { HoistErrorCodes } from './errors.js';
import { extractArchive } from './extract.js';
import { tempDir } from './test-support.js';

const SCRIPT = '#!/bin/sh\nexec echo hello\n';
let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('p2t-bin2pod-'));
  await writeFile(join(dir, 'greeter.sh'), SCRIPT, { mode: 0o644 });
});
afterEach(() => cleanup());

describe('bin2pod', () => {
  it('packs bin/launch into <id>_<sha1>.tar.gz and writes a manifest pointing at it', async () => {
    const result = await bin2pod({
      executable: join(dir, 'greeter.sh'),
      workDir: join(dir, 'out'),
      port: 9123,
      config: { greeting: 'hi' },
    });
    const sha1 = createHash('sha1').update(SCRIPT).digest('hex');
    expect(result).toEqual({
      tar_path: join(dir, 'out', `greeter_${sha1}.tar.gz`),
      manifest_path: join(dir, 'out', 'greeter.yaml'),
      final_location: `file://${join(dir, 'out', `greeter_${sha1}.tar.gz`)}`,
      pod_id: 'greeter',
      version: sha1,
    });
    await extractArchive(result.tar_path, join(dir, 'x'));
    expect(await readFile(join(dir, 'x', 'bin', 'launch'), 'utf8')).toBe(SCRIPT);
    expect((await stat(join(dir, 'x', 'bin', 'launch'))).mode & 0o777).toBe(0o755);
    const manifest = parseManifest(await readFile(result.manifest_path));
    expect(manifest.config).toEqual({ greeting: 'hi', port: 9123 });
    expect(manifest.statusCheck()).toMatchObject({ port: 9123, scheme: 'http' });
  });

  it('is reproducible and fills {} in location', async () => {
    const options = {
      executable: join(dir, 'greeter.sh'),
      workDir: dir,
      id: 'hello',
      location: 'https://a.example/{}',
    };
    const first = await bin2pod(options);
    const bytes = await readFile(first.tar_path);
    const second = await bin2pod(options);
    expect(await readFile(second.tar_path)).toEqual(bytes);
    expect(first.final_location).toBe(`https://a.example/hello_${first.version}.tar.gz`);
  });

  it('refuses a directory and an id the preparer would reject (P2_HOIST_BIN2POD_INVALID)', async () => {
    await mkdir(join(dir, 'folder'));
    for (const options of [
      { executable: join(dir, 'folder'), workDir: dir },
      { executable: join(dir, 'greeter.sh'), workDir: dir, id: 'a/b' },
    ]) {
      const error = await bin2pod(options).catch((e: unknown) => e);
      expect(isP2Error(error, HoistErrorCodes.BIN2POD_INVALID) || error).toBe(true);
    }
  });
});
