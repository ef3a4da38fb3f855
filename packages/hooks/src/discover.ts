import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { distrustAncestors, distrustStats } from '@p2/secure-fs';
import { HooksError, HooksErrorCode } from './errors.js';

/** A file found in the hooks directory. */
export interface DiscoveredHook {
  /** File name: what `hooks_required` lists (`<hook-pod>__<launchable>__<entry>` for P2's executor scripts). */
  name: string;
  path: string;
  /** False when the file has no execute bit at all: P2 audited such a hook as failed and skipped it. */
  executable: boolean;
  /**
   * Why the hook is not run: it (after links are resolved) or a directory above it is not owned by
   * root or is writable by group or others — hooks run as root, so anything another user could
   * change is never executed. Audited as a failure, like a hook without the execute bit.
   */
  untrusted?: string;
}

/**
 * Lists the hooks in P2's single flat hooks directory (default `/usr/local/p2hooks.d`), sorted by
 * name. Every hook runs for every event. A missing directory means no hooks; sub-directories are
 * skipped; symlinks are followed (a dangling one is skipped) — P2's hook pod links its scripts
 * here — but the file they lead to, and every directory above it, must be root's alone
 * (`untrusted` says why not).
 *
 * @throws {HooksError} `P2_HOOKS_IO` when the directory exists but cannot be read.
 * @example await discoverHooks('/usr/local/p2hooks.d') // [{ name: 'secrets__fetch__launch', path: '…', executable: true }]
 */
export async function discoverHooks(directory: string): Promise<DiscoveredHook[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new HooksError(
      HooksErrorCode.IO,
      `cannot list the hooks directory ${directory}: ${describeError(error)}`,
      { cause: error, details: { path: directory } },
    );
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const hooks: DiscoveredHook[] = [];
  for (const name of names) {
    const path = join(directory, name);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch {
      continue; // dangling symlink, or removed meanwhile
    }
    if (info.isDirectory()) continue;
    const untrusted = await distrustHook(path, info);
    hooks.push({
      name,
      path,
      executable: (info.mode & 0o111) !== 0,
      ...(untrusted ? { untrusted } : {}),
    });
  }
  return hooks;
}

/** Why a hook file may not be run as root, or undefined. */
async function distrustHook(
  path: string,
  info: { uid: number; mode: number },
): Promise<string | undefined> {
  const own = distrustStats(info);
  if (own) return `${path} ${own}`;
  const real = await realpath(path).catch(() => path);
  const bad = await distrustAncestors(real);
  return bad ? `${bad.dir} ${bad.why}` : undefined;
}
