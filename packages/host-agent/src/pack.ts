/**
 * Packs a single-file Node bundle into a Hoist artifact: `bin/launch` (a shell script) plus
 * `lib/<name>.mjs`, named `<name>_<40 hex>.tar.gz` with the version derived from the content, so
 * the same bundle always gives the same artifact and a new build gives a new version.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packArtifact } from '@p2/hoist';

/**
 * Part of every version: bump it when the archive's layout or modes change, so a host holding an
 * artifact packed the old way under the same name gets a new version instead of the old file.
 * 2: the top directory is 0755 (it was mkdtemp's 0700, which a pod's own user cannot enter once
 * installs are root-owned). 3: packed in-process by `@p2/hoist`'s `packArtifact` (fixed mtimes).
 */
const PACK_FORMAT = 'p2-bootstrap pack 3';

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
    // Written 0644 through a temporary file and a rename: the preparer (root) refuses local
    // artifacts others may write, whatever the umask.
    await packArtifact(
      [
        { name: './', type: 'directory', mode: 0o755 },
        { name: './bin/', type: 'directory', mode: 0o755 },
        { name: './bin/launch', mode: 0o755, content: options.launch },
        { name: './lib/', type: 'directory', mode: 0o755 },
        { name: `./lib/${options.name}.mjs`, mode: 0o644, content: bundleBytes },
      ],
      { output: path },
    );
  }
  return { path, version, location: `file://${path}` };
}
