/**
 * Env dirs as P2 wrote them (spec 01 §1.10): one file per variable, the value without a trailing
 * newline, loaded by `chpst -e` (later dirs win; an empty file unsets the variable).
 */
import { chown, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Ownership {
  uid: number;
  gid: number;
}

function checkName(name: string): void {
  if (
    name === '' ||
    name.includes('=') ||
    name.includes('/') ||
    name.includes('\0') ||
    name === '.' ||
    name === '..'
  ) {
    throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
  }
}

/**
 * Writes `vars` into `dir`. With `replace`, the directory is rebuilt from scratch atomically
 * (written beside it, then renamed), as P2 did for launchable env dirs; otherwise files are added or
 * overwritten and stale ones are left (P2's pod env dir behaviour).
 */
export async function writeEnvDir(
  dir: string,
  vars: Record<string, string>,
  options: { replace?: boolean; owner?: Ownership } = {},
): Promise<void> {
  for (const name of Object.keys(vars)) checkName(name);
  const target = options.replace ? `${dir}.tmp-${process.pid}-${Date.now()}` : dir;
  await mkdir(target, { recursive: true, mode: 0o755 });
  for (const [name, value] of Object.entries(vars)) {
    // chpst reads only the first line; keep what the app sees identical to what was written.
    const file = join(target, name);
    await writeFile(file, value, { mode: 0o644 });
    if (options.owner) await chown(file, options.owner.uid, options.owner.gid);
  }
  if (options.owner) await chown(target, options.owner.uid, options.owner.gid);
  if (options.replace) {
    const old = `${dir}.old-${process.pid}-${Date.now()}`;
    await rename(dir, old).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(target, dir);
    await rm(old, { recursive: true, force: true });
  }
}
