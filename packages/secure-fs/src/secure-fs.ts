/**
 * File operations for a process running as root next to hostile users (the repo's SECURITY.md):
 * root never follows a link or writes through a path another user controls, and reads back only
 * files nobody else can have written.
 *
 * - a path is *trusted* when it and every directory above it is owned by root (or by the user this
 *   process runs as, so unprivileged tools and tests work on their own files) and not writable by
 *   group or others — sticky directories such as `/tmp` excepted above the path itself, since
 *   others cannot rename or remove what we own there;
 * - files are written under an unpredictable name with `O_EXCL | O_NOFOLLOW` (never through an
 *   existing link), owned and moded through the open descriptor, then renamed into place;
 * - files read back are opened with `O_NOFOLLOW | O_NONBLOCK` (a link or a FIFO never redirects or
 *   blocks the reader) and accepted only when the descriptor is a trusted regular file, and small;
 * - trees another user may have written into are deleted with GNU `rm`, which walks directories by
 *   descriptor and never follows a link (Node's `fs.rm` resolves paths again at each level).
 *
 * No error ever quotes the content of a file.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  type Stats,
  writeFileSync,
} from 'node:fs';
import { lstat, open, readdir, realpath, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describeError } from '@p2/errors';
import { SecureFsError, SecureFsErrorCode } from './errors.js';

const run = promisify(execFile);

/** Whether `uid` may own what this process trusts: root, or the user this process runs as. */
export function isTrustedOwner(uid: number): boolean {
  return uid === 0 || uid === process.getuid?.();
}

function othersMayWrite(mode: number): boolean {
  return (mode & 0o022) !== 0;
}

function modeText(mode: number): string {
  return (mode & 0o7777).toString(8);
}

function ownerText(uid: number): string {
  return `owned by uid ${uid}, not root`;
}

/**
 * Why a file or directory's own metadata makes it untrusted, or undefined when it is fine: owner
 * not trusted, or writable by group or others.
 */
export function distrustStats(info: Pick<Stats, 'uid' | 'mode'>): string | undefined {
  if (!isTrustedOwner(info.uid)) return `is ${ownerText(info.uid)}`;
  if (othersMayWrite(info.mode))
    return `is writable by group or others (mode ${modeText(info.mode)})`;
  return undefined;
}

/**
 * Checks that a directory is ours alone to change: a real directory (not a link), trusted owner,
 * not writable by group or others. Returns the reason when it is not, or undefined.
 * @example await distrustDir('/data/pods/web') // undefined, or 'is owned by uid 1001, not root'
 */
export async function distrustDir(path: string): Promise<string | undefined> {
  return distrustDirStats(await lstat(path).catch(() => undefined));
}

/**
 * Whether anything is at `path` itself, without following a link (`lstat`): a link exists even
 * when its target does not. Only "no such file" (`ENOENT`) answers false; any other failure
 * (`EACCES`, `ENOTDIR`, `ELOOP`, …) is thrown as `lstat` raised it, so a path that cannot be
 * inspected is never taken for a missing one. (Following links and answering false on any error
 * is Node's `existsSync`.)
 * @example await pathExists('/data/pods/web/app/installs/app_v1') // true
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** {@link distrustDir} for metadata already read with `lstat` (undefined: the path is missing). */
function distrustDirStats(info: Stats | undefined): string | undefined {
  if (!info) return 'does not exist';
  if (info.isSymbolicLink()) return 'is a symbolic link';
  if (!info.isDirectory()) return 'is not a directory';
  return distrustStats(info);
}

/**
 * Checks every directory from `path` up to `/`, as written and with links resolved: each must
 * have a trusted owner and not be writable by group or others, except sticky directories above
 * `path`. Returns the first offending directory and why, or undefined. Missing directories are
 * skipped (they will be created by their trusted parent's owner).
 * @example await distrustAncestors('/var/lib/p2/artifacts') // undefined, or { dir: '/var/lib/p2', why: '…' }
 */
export async function distrustAncestors(
  path: string,
): Promise<{ dir: string; why: string } | undefined> {
  const start = resolve(path);
  const chains = [start];
  const real = await realpath(start).catch(() => undefined);
  if (real !== undefined && real !== start) chains.push(real);
  for (const chain of chains) {
    for (let dir = chain, first = true; ; first = false) {
      const info = await lstat(dir).catch(() => undefined);
      if (info && !info.isSymbolicLink()) {
        const why = distrustStats(info);
        // Others cannot rename or remove what we own in a sticky directory above the path.
        const stickyAbove = !first && (info.mode & 0o1000) !== 0 && isTrustedOwner(info.uid);
        if (why && !stickyAbove) return { dir, why };
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

/**
 * Makes `path` a directory of ours with `mode` (its parent must already be trusted). An existing
 * directory is accepted only when {@link distrustDir} finds nothing, so a path another user
 * replaced is never used.
 * @throws SecureFsError `P2_SECURE_FS_UNTRUSTED`
 * @example await ensureTrustedDir('/data/pods/web/config', 0o755)
 */
export async function ensureTrustedDir(path: string, mode = 0o755): Promise<void> {
  // Synchronous on purpose: three quick metadata calls, not three turns in libuv's 4-thread pool
  // (a burst of 20 deploys each making a dozen directories queued there).
  try {
    mkdirSync(path, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  let info: Stats | undefined;
  try {
    info = lstatSync(path);
  } catch {
    info = undefined;
  }
  const why = distrustDirStats(info);
  if (why) throw untrusted(path, why);
  if (((info as Stats).mode & 0o7777) !== mode) chmodSync(path, mode);
}

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Final mode of the file. */
  mode: number;
  /** Owner to give the file (through its descriptor). @default the process's user */
  uid?: number;
  /** Group to give the file. @default 0 when `uid` is given */
  gid?: number;
  /** fsync the file and its directory before returning. @default false */
  durable?: boolean;
}

/**
 * The temporary name {@link writeFileAtomic} writes `path` under before renaming it: hidden (a dot
 * first) in the same directory, so a process killed between the two steps leaves a file that
 * directory readers skip — `chpst -e` would otherwise fail on an unreadable leftover in an env dir
 * and keep the pod from starting — and that {@link removeAtomicWriteLeftovers} recognises.
 */
function atomicTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}${TEMP_MARK}${randomBytes(6).toString('hex')}`);
}

const TEMP_MARK = '.p2-tmp-';
/** A leftover of an interrupted {@link writeFileAtomic}: today's hidden name, or the visible one
 * older versions used (`<name>.p2-tmp-<12 hex>`). */
const LEFTOVER = /^.+\.p2-tmp-[0-9a-f]{12}$/;

/**
 * Removes what interrupted {@link writeFileAtomic} calls left in `dir` (a process killed between
 * writing its temporary file and renaming it). Only the single writer of `dir` may call this: a
 * concurrent writer's temporary file would be removed under it. Returns the names removed.
 * @throws SecureFsError `P2_SECURE_FS_IO`
 * @example await removeAtomicWriteLeftovers('/data/pods/web/env') // ['.CONFIG_PATH.p2-tmp-1a2b3c4d5e6f']
 */
export async function removeAtomicWriteLeftovers(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(dir, error);
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!LEFTOVER.test(name)) continue;
    try {
      // unlink never follows a link; a directory of that name is not ours and stays.
      const info = await lstat(join(dir, name));
      if (info.isDirectory()) continue;
      await rm(join(dir, name), { force: true });
      removed.push(name);
    } catch (error) {
      throw ioError(join(dir, name), error);
    }
  }
  return removed;
}

/**
 * Writes a file atomically without ever opening an existing path: a fresh file under a random
 * hidden name beside it (`O_EXCL | O_NOFOLLOW` fails on anything already there, links included),
 * owned and moded through its descriptor, renamed over `path`. The directory should be trusted.
 * @example await writeFileAtomic('/data/pods/web/current_manifest.yaml', bytes, { mode: 0o600 })
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions,
): Promise<void> {
  const tmp = atomicTempPath(path);
  if (!options.durable && Buffer.byteLength(data) <= SMALL_FILE_BYTES) {
    writeSmallFileAtomic(tmp, path, data, options);
    return;
  }
  const handle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    try {
      await handle.writeFile(data);
      if (options.uid !== undefined) await handle.chown(options.uid, options.gid ?? 0);
      await handle.chmod(options.mode);
      if (options.durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  if (options.durable) {
    const dir = await open(dirname(path), constants.O_RDONLY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

/** Files up to this size are written with synchronous calls (see {@link writeFileAtomic}). */
const SMALL_FILE_BYTES = 64 * 1024;

/**
 * The same steps with synchronous calls: for config and env files a handful of microseconds each,
 * where the asynchronous path costs six turns in libuv's thread pool per file.
 */
function writeSmallFileAtomic(
  tmp: string,
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions,
): void {
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    try {
      writeFileSync(fd, data);
      if (options.uid !== undefined) fchownSync(fd, options.uid, options.gid ?? 0);
      fchmodSync(fd, options.mode);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** Options of {@link readTrustedFile}. */
export interface ReadTrustedFileOptions {
  /** Largest size accepted. */
  maxBytes: number;
  /** Also refuse a file group or others may read (for secrets such as tokens). @default false */
  private?: boolean;
}

/**
 * Reads a file this process will act on, only if it is a regular file with a trusted owner that
 * nobody else can write (nor, with `private`, read), at most `maxBytes` long. Opened with
 * `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY` and checked through the descriptor: a link fails, a FIFO or
 * device is refused without blocking, and nothing can be swapped between check and read.
 *
 * @returns the bytes, or undefined when the file does not exist
 * @throws SecureFsError `P2_SECURE_FS_UNTRUSTED`, `P2_SECURE_FS_TOO_LARGE`, `P2_SECURE_FS_IO`
 * @example await readTrustedFile('/etc/p2/consul.token', { maxBytes: 4096, private: true })
 */
export async function readTrustedFile(
  path: string,
  options: ReadTrustedFileOptions,
): Promise<Buffer | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw untrusted(path, 'is a symbolic link');
    throw ioError(path, error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw untrusted(path, 'is not a regular file');
    const why = distrustStats(info);
    if (why) throw untrusted(path, why);
    if (options.private && (info.mode & 0o077) !== 0)
      throw untrusted(
        path,
        `is readable by group or others (mode ${modeText(info.mode)}; expected 600)`,
      );
    if (info.size > options.maxBytes)
      throw new SecureFsError(
        SecureFsErrorCode.TOO_LARGE,
        `${path} is ${info.size} bytes, more than the ${options.maxBytes} allowed`,
        { details: { path, size: info.size, maxBytes: options.maxBytes } },
      );
    const buffer = Buffer.alloc(info.size);
    let offset = 0;
    while (offset < info.size) {
      const { bytesRead } = await handle.read(buffer, offset, info.size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return buffer.subarray(0, offset);
  } catch (error) {
    if (error instanceof SecureFsError) throw error;
    throw ioError(path, error);
  } finally {
    await handle.close();
  }
}

/**
 * Deletes a directory tree another user may have written into, without following any link inside
 * it (GNU `rm -rf --one-file-system`). A missing path is not an error.
 * @throws SecureFsError `P2_SECURE_FS_IO`
 * @example await removeTree('/data/pods/web')
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await run('rm', ['-rf', '--one-file-system', '--', path]);
  } catch (error) {
    throw ioError(path, error);
  }
}

function untrusted(path: string, why: string): SecureFsError {
  return new SecureFsError(SecureFsErrorCode.UNTRUSTED, `${path} ${why}; refusing to trust it`, {
    hint: `make ${path} a regular file or directory owned by root and not writable by group or others`,
    details: { path, reason: why },
  });
}

function ioError(path: string, error: unknown): SecureFsError {
  return new SecureFsError(SecureFsErrorCode.IO, `${path}: ${describeError(error)}`, {
    cause: error,
    details: { path },
  });
}
