/**
 * Packs a single-file Node bundle into a Hoist artifact: `bin/launch` (a shell script) plus
 * `lib/<name>.mjs`, named `<name>_<40 hex>.tar.gz` with the version derived from the content, so
 * the same bundle always gives the same artifact and a new build gives a new version.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PackedArtifact {
  path: string;
  version: string;
  /** `file://` URL for the manifest's `location`. */
  location: string;
}

export async function packBundle(options: {
  name: string;
  bundle: string;
  launch: string;
  outDir: string;
}): Promise<PackedArtifact> {
  const bundleBytes = await readFile(options.bundle);
  const version = createHash('sha1').update(bundleBytes).update(options.launch).digest('hex');
  const path = join(options.outDir, `${options.name}_${version}.tar.gz`);
  await mkdir(options.outDir, { recursive: true, mode: 0o755 });
  if (!existsSync(path)) {
    const staging = await mkdtemp(join(tmpdir(), `p2-bootstrap-${options.name}-`));
    try {
      await mkdir(join(staging, 'bin'));
      await mkdir(join(staging, 'lib'));
      await writeFile(join(staging, 'bin', 'launch'), options.launch, { mode: 0o755 });
      await copyFile(options.bundle, join(staging, 'lib', `${options.name}.mjs`));
      await chmod(join(staging, 'lib', `${options.name}.mjs`), 0o644);
      const tmp = `${path}.tmp-${process.pid}`;
      await run('tar', ['-czf', tmp, '--owner=0', '--group=0', '-C', staging, '.']);
      await rename(tmp, path);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  return { path, version, location: `file://${path}` };
}
