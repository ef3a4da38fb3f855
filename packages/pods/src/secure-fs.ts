/**
 * File operations for a process running as root next to hostile pods (SECURITY.md): root never
 * follows a link or writes through a path a pod controls, and reads back only root-owned files.
 *
 * - directories the preparer manages are root-owned and not writable by group or others;
 * - files are written under an unpredictable name with `O_EXCL` (never through an existing link),
 *   owned and moded through the open descriptor, then renamed into place;
 * - files root reads back are opened with `O_NOFOLLOW | O_NONBLOCK` (a link or a FIFO never
 *   redirects or blocks the reader) and accepted only when the descriptor is a root-owned regular
 *   file that nobody else can write, and small;
 * - trees a pod could write into are deleted with GNU `rm`, which walks directories by descriptor
 *   and never follows a link (Node's `fs.rm` resolves paths again at each level).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why a path cannot be trusted, or undefined when it can. @internal */
export type Distrust = string | undefined;

/** Whether `mode` lets group or others write. */
function othersMayWrite(mode: number): boolean {
  return (mode & 0o022) !== 0;
}

/**
 * Checks that a directory is root's alone to change: a real directory (not a link), owned by
 * root, not writable by group or others. Returns the reason when it is not.
 * @internal
 */
export async function distrustDir(path: string): Promise<Distrust> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return 'does not exist';
  if (info.isSymbolicLink()) return 'is a symbolic link';
  if (!info.isDirectory()) return 'is not a directory';
  if (info.uid !== 0) return `is owned by uid ${info.uid}, not root`;
  if (othersMayWrite(info.mode))
    return `is writable by group or others (mode ${modeText(info.mode)})`;
  return undefined;
}

/**
 * Checks every directory from `path` up to `/`: root-owned and not writable by others, except
 * sticky directories such as `/tmp` (others cannot rename or remove what root owns there).
 * Returns the first offending directory and why.
 * @internal
 */
export async function distrustAncestors(
  path: string,
): Promise<{ dir: string; why: string } | undefined> {
  let dir = resolve(path);
  for (;;) {
    const info = await lstat(dir).catch(() => undefined);
    if (info) {
      if (info.isSymbolicLink()) return { dir, why: 'is a symbolic link' };
      if (info.uid !== 0) return { dir, why: `is owned by uid ${info.uid}, not root` };
      const sticky = (info.mode & 0o1000) !== 0;
      if (othersMayWrite(info.mode) && !sticky)
        return { dir, why: `is writable by group or others (mode ${modeText(info.mode)})` };
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Makes `path` a root-owned directory with `mode` (its parent must already be trusted). An
 * existing directory is accepted only when root-owned and not writable by others, so a path a
 * pod replaced is never used.
 * @throws Error naming the path and the reason
 * @internal
 */
export async function ensureRootDir(path: string, mode = 0o755): Promise<void> {
  try {
    await mkdir(path, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const why = await distrustDir(path);
  if (why) throw new Error(`${path} ${why}; refusing to use it`);
  await chmod(path, mode);
}

/**
 * Writes a file atomically without ever opening an existing path: a fresh file under a random
 * name (`O_EXCL` fails on anything already there, links included) in a root-owned directory,
 * owned and moded through its descriptor, renamed over `path`.
 * @internal
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode: number; uid?: number; gid?: number },
): Promise<void> {
  const tmp = `${path}.p2-tmp-${randomBytes(6).toString('hex')}`;
  const handle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await handle.writeFile(data);
    if (options.uid !== undefined) await handle.chown(options.uid, options.gid ?? 0);
    await handle.chmod(options.mode);
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Reads a file root will act on, only if it is a root-owned regular file nobody else can write,
 * at most `maxBytes` long. Opened with `O_NOFOLLOW | O_NONBLOCK`: a link fails, a FIFO or device
 * is refused without blocking. Missing files read as undefined. Errors never quote the content.
 * @throws Error naming the path and the reason
 * @internal
 */
export async function readTrustedFile(path: string, maxBytes: number): Promise<Buffer | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new Error(`${path} is a symbolic link; refusing to read it`);
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`${path} is not a regular file; refusing to read it`);
    if (info.uid !== 0)
      throw new Error(`${path} is owned by uid ${info.uid}, not root; refusing to trust it`);
    if (othersMayWrite(info.mode))
      throw new Error(`${path} is writable by group or others; refusing to trust it`);
    if (info.size > maxBytes)
      throw new Error(`${path} is ${info.size} bytes, more than the ${maxBytes} allowed`);
    const buffer = Buffer.alloc(info.size);
    let offset = 0;
    while (offset < info.size) {
      const { bytesRead } = await handle.read(buffer, offset, info.size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return buffer.subarray(0, offset);
  } finally {
    await handle.close();
  }
}

/**
 * Deletes a directory tree a pod may have written into, without following any link inside it
 * (GNU `rm -rf --one-file-system`). A missing path is not an error.
 * @internal
 */
export async function removeTree(path: string): Promise<void> {
  await run('rm', ['-rf', '--one-file-system', '--', path]);
}
