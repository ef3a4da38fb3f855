import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { distrustAncestors, readTrustedFile, writeFileAtomic } from '@p2/secure-fs';
import { HooksError, HooksErrorCode } from './errors.js';

/** One executable of a hook pod, to be exposed in the hooks directory. */
export interface HookExecutor {
  launchableId: string;
  /** The entry's file name, e.g. `launch` for `bin/launch`, `script1` for `bin/launch/script1`. */
  entryName: string;
  /**
   * The whole executor, `#!/bin/sh` first: what runs the entry point (P2: `exec` + the p2-exec line
   * of the launchable's runit service; p2: the service's run script, from `@p2/runit`).
   */
  script: string;
}

/** What {@link installHookExecutors} did. */
export interface HookExecutorsReport {
  /** Every executor of the hook pod now in the directory, sorted. */
  executors: string[];
  /** Those written now (new or changed); the others were already byte-identical. */
  written: string[];
  /** Executors of the hook pod that were removed (no longer wanted). */
  removed: string[];
}

/**
 * The file name P2 gives a hook executor: `<hook-pod-id>__<launchable-id>__<entry>`, the pod's
 * runit service name. This is the name `hooks_required` lists.
 *
 * @example hookExecutorName('users', 'create', 'launch') // 'users__create__launch'
 */
export function hookExecutorName(
  hookPodId: string,
  launchableId: string,
  entryName: string,
): string {
  return `${hookPodId}__${launchableId}__${entryName}`;
}

/** Largest executor read back to compare (they are a few hundred bytes). */
const MAX_EXECUTOR_BYTES = 64 * 1024;

/**
 * Writes the executor scripts of a hook pod into the hooks directory the way P2's preparer did
 * (spec 02 §6.2): one file per executable, named {@link hookExecutorName}, mode 0744, root's.
 * Files of the same hook pod (`<hook-pod-id>__*`) that are not wanted any more are removed; with
 * no executors at all, that removes the hook pod's executors.
 *
 * Differences from P2: each file is written under a random hidden name (`O_EXCL | O_NOFOLLOW`) and
 * renamed, and stale ones are removed *after* the new ones exist (P2 deleted first), so a hook run
 * never sees a half-written script or a moment without hooks; an executor that is already
 * byte-identical is left alone; the directory is made (0755) when missing and refused unless it and
 * every directory above it are root's alone, since whatever lands there runs as root.
 *
 * @throws {HooksError} `P2_HOOKS_INVALID_OPTIONS` for a name part that is empty or contains `/`
 *   (or `__` in the pod id), two executables with one name, or a script without `#!`;
 *   `P2_HOOKS_IO` when the directory is not root's alone or cannot be written.
 * @example
 * ```ts
 * await installHookExecutors('/usr/local/p2hooks.d', 'users', [
 *   { launchableId: 'create', entryName: 'launch', script: renderRunScript(spec) },
 * ]); // { executors: ['users__create__launch'], written: ['users__create__launch'], removed: [] }
 * ```
 */
export async function installHookExecutors(
  hooksDirectory: string,
  hookPodId: string,
  executors: readonly HookExecutor[],
): Promise<HookExecutorsReport> {
  const bad = (what: string) => {
    throw new HooksError(HooksErrorCode.INVALID_OPTIONS, `cannot install hook executors: ${what}`, {
      details: { hookPodId },
    });
  };
  if (hookPodId === '' || hookPodId.includes('/') || hookPodId.includes('__')) {
    bad(`hook pod id ${JSON.stringify(hookPodId)} must be non-empty without "/" or "__"`);
  }
  const io = (what: string, error: unknown) =>
    new HooksError(HooksErrorCode.IO, `${what}: ${describeError(error)}`, {
      cause: error,
      details: { path: hooksDirectory },
    });
  const wanted = new Map<string, string>();
  for (const executor of executors) {
    for (const part of [executor.launchableId, executor.entryName]) {
      if (part === '' || part.includes('/') || part === '.' || part === '..')
        bad(`name part ${JSON.stringify(part)} is empty or contains "/"`);
    }
    if (!executor.script.startsWith('#!'))
      bad(`the executor of ${executor.entryName} is not a script (no "#!" line)`);
    const name = hookExecutorName(hookPodId, executor.launchableId, executor.entryName);
    if (wanted.has(name)) bad(`two executables would both be named ${name}`);
    wanted.set(name, executor.script);
  }

  try {
    await mkdir(hooksDirectory, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw io(`cannot make the hooks directory ${hooksDirectory}`, error);
  }
  const distrusted = await distrustAncestors(hooksDirectory);
  if (distrusted) {
    throw new HooksError(
      HooksErrorCode.IO,
      `not writing hook executors into ${hooksDirectory}: ${distrusted.dir} ${distrusted.why}`,
      {
        details: { path: hooksDirectory, dir: distrusted.dir },
        hint: `hooks run as root: make ${distrusted.dir} root's and not writable by group or others (chown root; chmod go-w)`,
      },
    );
  }

  const written: string[] = [];
  for (const [name, script] of wanted) {
    const path = join(hooksDirectory, name);
    const existing = await readTrustedFile(path, { maxBytes: MAX_EXECUTOR_BYTES }).catch(
      () => undefined,
    );
    const mode = await lstat(path).then(
      (info) => info.mode & 0o7777,
      () => undefined,
    );
    if (existing?.toString('utf8') === script && mode === 0o744) continue;
    try {
      await writeFileAtomic(path, script, { mode: 0o744 });
    } catch (error) {
      throw io(`cannot write the hook executor ${path}`, error);
    }
    written.push(name);
  }

  let present: string[];
  try {
    present = await readdir(hooksDirectory);
  } catch (error) {
    throw io(`cannot list the hooks directory ${hooksDirectory}`, error);
  }
  const removed: string[] = [];
  for (const file of present.sort()) {
    if (!file.startsWith(`${hookPodId}__`) || wanted.has(file)) continue;
    try {
      // unlink never follows a link; a directory there is not an executor (runHooks skips them).
      if ((await lstat(join(hooksDirectory, file))).isDirectory()) continue;
      await rm(join(hooksDirectory, file), { force: true });
    } catch (error) {
      throw io(`cannot remove the stale hook executor ${file}`, error);
    }
    removed.push(file);
  }
  return { executors: [...wanted.keys()].sort(), written: written.sort(), removed };
}
