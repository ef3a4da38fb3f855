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

/**
 * Part of every version: bump it when the archive's layout or modes change, so a host holding an
 * artifact packed the old way under the same name gets a new version instead of the old file.
 * 2: the top directory is 0755 (it was mkdtemp's 0700, which a pod's own user cannot enter once
 * installs are root-owned).
 */
const PACK_FORMAT = 'p2-bootstrap pack 2';

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
  const version = createHash('sha1')
    .update(PACK_FORMAT)
    .update(bundleBytes)
    .update(options.launch)
    .digest('hex');
  const path = join(options.outDir, `${options.name}_${version}.tar.gz`);
  await mkdir(options.outDir, { recursive: true, mode: 0o755 });
  if (!existsSync(path)) {
    const staging = await mkdtemp(join(tmpdir(), `p2-bootstrap-${options.name}-`));
    try {
      await chmod(staging, 0o755);
      await mkdir(join(staging, 'bin'), { mode: 0o755 });
      await mkdir(join(staging, 'lib'), { mode: 0o755 });
      await writeFile(join(staging, 'bin', 'launch'), options.launch, { mode: 0o755 });
      await copyFile(options.bundle, join(staging, 'lib', `${options.name}.mjs`));
      await chmod(join(staging, 'lib', `${options.name}.mjs`), 0o644);
      const tmp = `${path}.tmp-${process.pid}`;
      await run('tar', ['-czf', tmp, '--owner=0', '--group=0', '-C', staging, '.']);
      // Whatever the umask: the preparer (root) refuses local artifacts others may write.
      await chmod(tmp, 0o644);
      await rename(tmp, path);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  return { path, version, location: `file://${path}` };
}
