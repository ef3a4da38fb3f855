import { chmod, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { HooksError, HooksErrorCode } from './errors.js';

/** One executable of a hook pod, to be exposed in the hooks directory. */
export interface HookExecutor {
  launchableId: string;
  /** The entry's file name, e.g. `launch` for `bin/launch`, `script1` for `bin/launch/script1`. */
  entryName: string;
  /** The command that runs it (P2: the p2-exec line of the launchable's runit service). */
  command: readonly string[];
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

/** Quotes one word for `/bin/sh` (single quotes; a `'` becomes `'\''`); safe words stay bare. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Writes the executor scripts of a hook pod into the hooks directory the way P2's preparer did
 * (spec 02 §6.2): one file per executable, named {@link hookExecutorName}, mode 0744, content
 * `#!/bin/sh` + `exec <command>`. Files of the same hook pod (`<hook-pod-id>__*`) that are not
 * written again are removed.
 *
 * Differences from P2: each word of the command is shell-quoted (P2 joined argv with spaces, so an
 * argument with a space broke the script); each file is written to a temporary name and renamed,
 * and stale ones are removed *after* the new ones exist (P2 deleted first), so a hook run never sees
 * a half-written script or a moment without hooks.
 *
 * @returns the names written, sorted
 * @throws {HooksError} `P2_HOOKS_INVALID_OPTIONS` for a name part that is empty or contains `/` or
 *   `__` in the pod id; `P2_HOOKS_IO` when the directory cannot be written.
 * @example
 * ```ts
 * await installHookExecutors('/usr/local/p2hooks.d', 'users', [
 *   { launchableId: 'create', entryName: 'launch', command: ['/usr/local/bin/p2-exec', '-u', 'root', '--', '/data/pods/hooks/users/create/current/bin/launch'] },
 * ]); // ['users__create__launch']
 * ```
 */
export async function installHookExecutors(
  hooksDirectory: string,
  hookPodId: string,
  executors: readonly HookExecutor[],
): Promise<string[]> {
  const bad = (what: string) => {
    throw new HooksError(HooksErrorCode.INVALID_OPTIONS, `cannot install hook executors: ${what}`, {
      details: { hookPodId },
    });
  };
  if (hookPodId === '' || hookPodId.includes('/') || hookPodId.includes('__')) {
    bad(`hook pod id ${JSON.stringify(hookPodId)} must be non-empty without "/" or "__"`);
  }
  const names = new Set<string>();
  const io = (what: string, error: unknown) =>
    new HooksError(HooksErrorCode.IO, `${what}: ${describeError(error)}`, {
      cause: error,
      details: { path: hooksDirectory },
    });
  for (const executor of executors) {
    for (const part of [executor.launchableId, executor.entryName]) {
      if (part === '' || part.includes('/'))
        bad(`name part ${JSON.stringify(part)} is empty or contains "/"`);
    }
    if (executor.command.length === 0) bad(`executor ${executor.entryName} has an empty command`);
    const name = hookExecutorName(hookPodId, executor.launchableId, executor.entryName);
    if (names.has(name)) bad(`two executables would both be named ${name}`);
    names.add(name);
    const path = join(hooksDirectory, name);
    const temp = join(hooksDirectory, `.${name}.tmp-${process.pid}`);
    try {
      await writeFile(temp, `#!/bin/sh\nexec ${executor.command.map(shellQuote).join(' ')}\n`, {
        mode: 0o744,
      });
      await chmod(temp, 0o744); // the umask may have cleared bits
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw io(`cannot write the hook executor ${path}`, error);
    }
  }
  let existing: string[];
  try {
    existing = await readdir(hooksDirectory);
  } catch (error) {
    throw io(`cannot list the hooks directory ${hooksDirectory}`, error);
  }
  for (const file of existing) {
    if (file.startsWith(`${hookPodId}__`) && !names.has(file)) {
      await rm(join(hooksDirectory, file), { force: true }).catch((error) => {
        throw io(`cannot remove the stale hook executor ${file}`, error);
      });
    }
  }
  return [...names].sort();
}
