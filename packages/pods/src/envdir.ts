/**
 * Env dirs as P2 wrote them (spec 01 §1.10): one file per variable, the value without a trailing
 * newline, loaded by `chpst -e` (later dirs win; an empty file unsets the variable).
 */
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ensureTrustedDir,
  removeAtomicWriteLeftovers,
  removeTree,
  writeFileAtomic,
} from '@p2/secure-fs';

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
 * Writes `vars` into `dir` (removing what an interrupted earlier write left). With `replace`, the directory is rebuilt from scratch atomically
 * (written beside it, then renamed), as P2 did for launchable env dirs; otherwise files are added or
 * overwritten and stale ones are left (P2's pod env dir behaviour).
 *
 * The directory is root's (0755, never writable by the pod, so it can never gain a variable the
 * manifest did not set); each file is owned by `owner` with mode 0400 — values may be secrets, and
 * only the pod's user (which loads them, after dropping privileges) and root can read them.
 * Without `owner` files are root's, mode 0600.
 */
export async function writeEnvDir(
  dir: string,
  vars: Record<string, string>,
  options: { replace?: boolean; owner?: Ownership } = {},
): Promise<void> {
  for (const name of Object.keys(vars)) checkName(name);
  const target = options.replace ? `${dir}.p2-tmp-${randomBytes(6).toString('hex')}` : dir;
  await ensureTrustedDir(target, 0o755);
  // A preparer killed mid-write leaves a temporary file here; chpst -e reads every visible file of
  // the directory, and one the pod cannot read would keep it from ever starting again.
  if (!options.replace) await removeAtomicWriteLeftovers(target);
  const fileOptions = options.owner
    ? { mode: 0o400, uid: options.owner.uid, gid: options.owner.gid }
    : { mode: 0o600 };
  try {
    // chpst reads only the first line; keep what the app sees identical to what was written.
    for (const [name, value] of Object.entries(vars))
      await writeFileAtomic(join(target, name), value, fileOptions);
    if (options.replace) {
      const old = `${dir}.p2-old-${randomBytes(6).toString('hex')}`;
      await rename(dir, old).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await rename(target, dir);
      // Root made it, in a home the pod cannot write: nothing in it can be a link the pod planted.
      await rm(old, { recursive: true, force: true });
    }
  } catch (error) {
    if (options.replace) await removeTree(target).catch(() => undefined);
    throw error;
  }
}
