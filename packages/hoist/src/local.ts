/**
 * Reading local (`file:` or plain-path) locations safely. The preparer runs as root and the paths
 * come from manifests, which pods and other users may write: without these checks a manifest could
 * make root read (and report) any file on the host, or block forever on a FIFO or `/dev/zero`.
 *
 * Enforced here, for every local read hoist makes (artifacts, digest files, signatures, build
 * manifests):
 * - the path lies inside one of the allowed directories (`localRoots`), both as written and after
 *   resolving symlinks; no allowed directories means no local reads at all;
 * - when running as root, every directory from `/` down to the file is owned by root and not
 *   writable by group or others (a root-owned sticky directory such as `/tmp` is tolerated *above*
 *   an allowed directory), and so is the file itself: nobody else can plant, swap or change it;
 * - the file is opened with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY` and checked through the open
 *   descriptor (`fstat`): only a regular file is read, and it is read through that descriptor only.
 *
 * Messages name the location and the rule, never the file's contents.
 */
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, resolve as resolvePath, sep } from 'node:path';
import { describeError } from '@p2/errors';
import { HoistError, HoistErrorCodes, hasErrno } from './errors.js';
import type { ResolvedLocation } from './location.js';

/** A resolved local location. @internal */
export type FileLocation = Extract<ResolvedLocation, { kind: 'file' }>;

/** A local file opened for reading, already checked. @internal */
export interface OpenedLocalFile {
  /** Open read-only; the caller closes it. Read through it only (never reopen by name). */
  handle: FileHandle;
  /** Size from `fstat` at open time. */
  size: number;
  /** The path after resolving symlinks. */
  realPath: string;
}

/**
 * Where a host keeps local artifacts: the directory p2-bootstrap writes, and the only one the
 * preparer (`local_artifact_dirs`) and `p2 launch` read local locations from by default.
 */
export const DEFAULT_LOCAL_ARTIFACT_DIR = '/var/lib/p2/artifacts';

/** Default limit of {@link FetchOptions.maxDocumentBytes}: 4 MiB (a digest of ~40,000 files). */
export const DEFAULT_MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

const OPEN_FLAGS =
  constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

const REFUSED_HINT =
  'local artifacts, digests and signatures are read only from allowed directories: list the directory in the preparer config key `local_artifact_dirs` (p2 launch: `--allow-local-dir DIR`), or serve the file over http(s)';
const UNTRUSTED_HINT =
  'root reads local files only where no other user can plant or change them: make every directory on the path, and the file, owned by root and not writable by group or others (chown root; chmod go-w)';

/**
 * Opens a local location for reading after checking it against the allowed directories, the
 * ownership rules (when root) and the file type. Never blocks on a FIFO or device.
 *
 * @param localRoots - absolute directories local locations may come from; empty or absent refuses
 *   every local location
 * @throws HoistError `P2_HOIST_LOCAL_LOCATION_REFUSED` (outside the allowed directories, a symlink
 *   leading out of them, not a regular file, untrusted ownership or mode),
 *   `P2_HOIST_ARTIFACT_NOT_FOUND`, `P2_HOIST_IO`
 * @internal
 */
export async function openLocalFile(
  location: FileLocation,
  localRoots: readonly string[] | undefined,
): Promise<OpenedLocalFile> {
  const roots = (localRoots ?? []).map((root) => {
    if (!isAbsolute(root)) {
      throw refused(location, localRoots, `the allowed directory "${root}" is not absolute`, {
        hint: 'list absolute directories in `local_artifact_dirs`',
      });
    }
    return resolvePath(root);
  });
  if (roots.length === 0) {
    throw refused(location, localRoots, 'local locations are not allowed here');
  }
  if (!isAbsolute(location.path)) {
    throw refused(location, localRoots, 'it is not an absolute path');
  }
  // Decide on the path as written before touching the file system, so a refused location does not
  // even reveal whether it exists.
  const lexical = resolvePath(location.path);
  const realRoots = await Promise.all(roots.map((root) => realpath(root).catch(() => undefined)));
  const candidates = [...roots, ...realRoots.filter((root) => root !== undefined)];
  if (!candidates.some((root) => isInside(lexical, root))) {
    throw refused(location, localRoots, 'it is outside the allowed directories');
  }
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (cause) {
    throw localReadError(location, cause);
  }
  const root = longestContaining(
    real,
    realRoots.filter((r) => r !== undefined),
  );
  if (root === undefined) {
    throw refused(
      location,
      localRoots,
      'it resolves (through a symlink or "..") to a path outside the allowed directories',
    );
  }
  const asRoot = process.getuid?.() === 0;
  if (asRoot) await assertTrustedDirectories(location, dirname(real), root);

  let handle: FileHandle;
  try {
    handle = await open(real, OPEN_FLAGS);
  } catch (cause) {
    if (hasErrno(cause, 'ELOOP')) {
      throw refused(location, localRoots, 'it became a symlink while being opened');
    }
    if (hasErrno(cause, 'ENXIO')) {
      throw refused(location, localRoots, 'it is not a regular file (a socket or device)');
    }
    throw localReadError(location, cause);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw refused(location, localRoots, `it is not a regular file (${kindOf(info)})`);
    }
    // The descriptor, not the name, is what will be read: check where it really points.
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (opened !== undefined && !isInside(opened.replace(/ \(deleted\)$/, ''), root)) {
      throw refused(location, localRoots, 'it was moved outside the allowed directories');
    }
    if (asRoot && info.uid !== 0) {
      throw refused(location, localRoots, `the file is owned by uid ${info.uid}, not root`, {
        hint: UNTRUSTED_HINT,
      });
    }
    if (asRoot && (info.mode & 0o022) !== 0) {
      throw refused(
        location,
        localRoots,
        `the file is writable by group or others (mode ${modeOf(info.mode)})`,
        { hint: UNTRUSTED_HINT },
      );
    }
    return { handle, size: info.size, realPath: real };
  } catch (error) {
    await handle.close().catch(() => undefined);
    if (error instanceof HoistError) throw error;
    throw localReadError(location, error);
  }
}

/**
 * Reads a small local document (digest, signature, build manifest) through {@link openLocalFile},
 * refusing more than `maxBytes` — checked on the size up front and again while reading.
 *
 * @throws HoistError as {@link openLocalFile}; `P2_HOIST_FETCH_TOO_LARGE` past `maxBytes`
 * @internal
 */
export async function readLocalDocument(
  location: FileLocation,
  localRoots: readonly string[] | undefined,
  maxBytes: number,
): Promise<Buffer> {
  const { handle, size } = await openLocalFile(location, localRoots);
  try {
    if (size > maxBytes) throw documentTooLarge(location, maxBytes);
    // Read to the end, even past the fstat size (a file may grow), but never past the limit.
    let buffer = Buffer.alloc(size + 1);
    let filled = 0;
    for (;;) {
      if (filled === buffer.length) {
        if (filled > maxBytes) throw documentTooLarge(location, maxBytes);
        const more = Math.min(buffer.length, maxBytes + 1 - buffer.length);
        buffer = Buffer.concat([buffer, Buffer.alloc(more)]);
      }
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) return buffer.subarray(0, filled);
      filled += bytesRead;
    }
  } catch (error) {
    if (error instanceof HoistError) throw error;
    throw localReadError(location, error);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Every directory from `/` down to `dir` must be a root-owned directory. At and below the allowed
 * directory none may be writable by group or others; above it a root-owned sticky directory
 * (`/tmp`) is tolerated, since others cannot rename or replace what root owns there.
 */
async function assertTrustedDirectories(
  location: FileLocation,
  dir: string,
  allowedRoot: string,
): Promise<void> {
  const parts = dir.split(sep).filter((part) => part !== '');
  const chain = [sep, ...parts.map((_, i) => `${sep}${parts.slice(0, i + 1).join(sep)}`)];
  for (const current of chain) {
    let info: Awaited<ReturnType<typeof lstat>>;
    try {
      info = await lstat(current);
    } catch (cause) {
      throw localReadError(location, cause);
    }
    const problem = !info.isDirectory()
      ? 'is not a directory'
      : info.uid !== 0
        ? `is owned by uid ${info.uid}, not root`
        : (info.mode & 0o022) === 0
          ? undefined
          : isInside(current, allowedRoot) || (info.mode & 0o1000) === 0
            ? `is writable by group or others (mode ${modeOf(info.mode)})`
            : undefined;
    if (problem !== undefined) {
      throw new HoistError(
        HoistErrorCodes.LOCAL_LOCATION_REFUSED,
        `local location ${location.display} is refused: directory ${current} ${problem}`,
        {
          hint: UNTRUSTED_HINT,
          details: { location: location.display, directory: current, reason: problem },
        },
      );
    }
  }
}

function isInside(path: string, root: string): boolean {
  if (root === sep) return path.startsWith(sep);
  return path === root || path.startsWith(`${root}${sep}`);
}

function longestContaining(path: string, roots: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const root of roots) {
    if (isInside(path, root) && (best === undefined || root.length > best.length)) best = root;
  }
  return best;
}

function kindOf(info: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'a special file';
}

function modeOf(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function refused(
  location: FileLocation,
  localRoots: readonly string[] | undefined,
  reason: string,
  extra: { hint?: string } = {},
): HoistError {
  const allowed = localRoots ?? [];
  const where = allowed.length === 0 ? 'none are allowed' : `allowed: ${allowed.join(', ')}`;
  return new HoistError(
    HoistErrorCodes.LOCAL_LOCATION_REFUSED,
    `local location ${location.display} is refused: ${reason} (${where})`,
    {
      hint: extra.hint ?? REFUSED_HINT,
      details: { location: location.display, allowed: [...allowed], reason },
    },
  );
}

function documentTooLarge(location: FileLocation, maxBytes: number): HoistError {
  return new HoistError(
    HoistErrorCodes.FETCH_TOO_LARGE,
    `${location.display} is larger than the ${maxBytes}-byte limit for digests and signatures`,
    {
      hint: 'digest and signature files are small; check the location, or raise `maxDocumentBytes`',
      details: { limit: maxBytes },
    },
  );
}

/** @internal An fs error reading a local location, as a HoistError (never with file contents). */
function localReadError(location: FileLocation, cause: unknown): HoistError {
  if (hasErrno(cause, 'ENOENT', 'ENOTDIR')) {
    return new HoistError(
      HoistErrorCodes.ARTIFACT_NOT_FOUND,
      `artifact ${location.display} does not exist`,
      { cause, hint: 'check the launchable `location`' },
    );
  }
  return new HoistError(
    HoistErrorCodes.IO,
    `cannot read ${location.display}: ${describeError(cause)}`,
    { cause },
  );
}
