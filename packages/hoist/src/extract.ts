import {
  closeSync,
  fchmodSync,
  fchownSync,
  close as fsClose,
  constants as fsConstants,
  fchmod as fsFchmod,
  fchown as fsFchown,
  futimes as fsFutimes,
  open as fsOpen,
  write as fsWrite,
  futimesSync,
  openSync,
  writeSync,
} from 'node:fs';
import {
  chmod,
  chown,
  type FileHandle,
  link as hardLink,
  lchown,
  lutimes,
  mkdir,
  open,
  rm,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises';
import { posix } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { describeError } from '@p2/errors';
import type { Logger } from 'pino';
import tar from 'tar-stream';
import { HoistError, type HoistErrorCode, HoistErrorCodes, hasErrno } from './errors.js';
import { silentLogger } from './logger.js';

/** Size limits that stop a tar bomb before it fills the disk. */
export interface ExtractLimits {
  /** Largest sum of all entry sizes, in bytes. @default 10 GiB (P2's `max_launchable_disk_usage`) */
  maxTotalBytes: number;
  /** Most entries (files, directories, links). @default 1_000_000 */
  maxEntries: number;
  /** Largest single file, in bytes. @default 4 GiB */
  maxFileBytes: number;
}

/** The limits used when none are given. */
export const DEFAULT_EXTRACT_LIMITS: Readonly<ExtractLimits> = Object.freeze({
  maxTotalBytes: 10 * 1024 ** 3,
  maxEntries: 1_000_000,
  maxFileBytes: 4 * 1024 ** 3,
});

/** A Unix owner for extracted files. */
export interface Owner {
  uid: number;
  gid: number;
}

/** Options of {@link extractArchive}. */
export interface ExtractOptions {
  /**
   * Owner of every extracted entry (files, directories, symlinks, the root). Leave unset to keep
   * the extracting process's own uid/gid (like `tar --no-same-owner`). P2 used the pod's run-as
   * user, or root for read-only pods.
   */
  owner?: Owner;
  /**
   * Give group and others the owner's read and execute bits on every file and directory (never
   * write), so an install owned by root can be read and run by the pod's user whatever modes the
   * archive recorded (a tarball packed from a 0700 temp dir would otherwise lock the pod out of
   * its own install). @default false
   */
  shareReadAccess?: boolean;
  /** Tar-bomb limits; missing fields use {@link DEFAULT_EXTRACT_LIMITS}. */
  limits?: Partial<ExtractLimits>;
  /** Cancels the extraction; the destination is removed. */
  signal?: AbortSignal;
  /** Structured logs (pino). @default silent */
  logger?: Logger;
  /**
   * Write files up to 128 KiB with synchronous system calls (much faster for artifacts with many
   * small files; switched off automatically after repeated slow writes). Set `false` to keep every
   * write off the event loop. @default true
   */
  synchronousSmallWrites?: boolean;
}

/** What {@link extractArchive} wrote. */
export interface ExtractResult {
  /** Entries in the archive that produced something (files, directories, links). */
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  hardLinks: number;
  /** Sum of the regular files' sizes. */
  bytes: number;
  /** `true` for a `.tar.gz`, `false` for a plain tar. */
  gzipped: boolean;
}

type Kind = 'dir' | 'file' | 'symlink';
type TarEntry = tar.ExtractEvents['entry'][1];

interface DirRecord {
  mode: number;
  mtime: Date | undefined;
}

const SMALL_FILE_BYTES = 512 * 1024;
const SYNC_WRITE_MAX_BYTES = 128 * 1024;
const SYNC_WRITE_STALL_MS = 10;
/** Page-cache writes of small files take tens of microseconds; an average above this is a disk. */
const SYNC_WRITE_AVERAGE_MS = 0.5;
const MAX_WRITES_IN_FLIGHT = 16;
const MAX_SYMLINK_HOPS = 40;
const WRITE_BATCH_BYTES = 1024 * 1024;
const CREATE_FLAGS =
  fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;

/**
 * Extracts a `.tar.gz` (or plain tar) into `destDir`, which must not exist yet: it is created
 * (mode 0700 while extracting) and, on **any** failure, removed again — nothing is left behind and
 * nothing is ever written outside it.
 *
 * Safety rules (each refusal has its own code):
 * - entry names that are absolute or contain `..` → `P2_HOIST_ARCHIVE_PATH_ESCAPE`;
 * - symlinks whose target resolves outside `destDir` (also through other symlinks of the archive),
 *   hard links to anything that is not an earlier regular file or symlink of the archive, and
 *   entries below a symlink → `P2_HOIST_ARCHIVE_LINK_ESCAPE`;
 * - device nodes, FIFOs and unknown entry types → `P2_HOIST_ARCHIVE_SPECIAL_FILE`;
 * - setuid/setgid bits are removed; files are created with `O_EXCL | O_NOFOLLOW`;
 * - limits on entry count, single-file size and total size → `P2_HOIST_ARCHIVE_TOO_MANY_ENTRIES`,
 *   `P2_HOIST_ARCHIVE_FILE_TOO_LARGE`, `P2_HOIST_ARCHIVE_TOO_LARGE`;
 * - damaged or truncated gzip/tar → `P2_HOIST_ARCHIVE_CORRUPT` / `P2_HOIST_ARCHIVE_TRUNCATED`.
 *
 * Like `tar xpf`, modes (minus setuid/setgid) and modification times are kept, a later entry
 * replaces an earlier file of the same name, a hard link to itself is accepted and missing parent
 * directories are created (0755). Directory modes are applied last, so read-only directories work.
 *
 * @param archive - path of the archive, or an open handle (read from offset 0)
 * @param destDir - directory to create and fill (its parent must exist)
 * @throws HoistError with one of the codes above, `P2_HOIST_ARCHIVE_UNRECOGNIZED` (neither gzip nor
 *   tar), `P2_HOIST_ARCHIVE_CONFLICT`, `P2_HOIST_IO` or `P2_HOIST_ABORTED`
 * @example
 * ```ts
 * const result = await extractArchive('/tmp/app.tar.gz', '/data/pods/app/app/installs/.staging-x');
 * // { entries: 3, files: 2, directories: 1, symlinks: 0, hardLinks: 0, bytes: 1234, gzipped: true }
 * ```
 */
export async function extractArchive(
  archive: string | FileHandle,
  destDir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const limits: ExtractLimits = { ...DEFAULT_EXTRACT_LIMITS, ...options.limits };
  const logger = options.logger ?? silentLogger;
  const ownHandle = typeof archive === 'string';
  let handle: FileHandle;
  try {
    handle = ownHandle ? await open(archive, 'r') : archive;
  } catch (cause) {
    throw ioError(`cannot open archive ${String(archive)}`, cause);
  }
  try {
    await mkdir(destDir, { mode: 0o700 });
  } catch (cause) {
    if (ownHandle) await handle.close();
    throw ioError(`cannot create extraction directory ${destDir}`, cause);
  }
  const extractor = new Extractor(
    destDir,
    limits,
    options.owner,
    logger,
    options.shareReadAccess ?? false,
  );
  if (options.synchronousSmallWrites === false) extractor.syncWrites = false;
  try {
    const result = await extractor.run(handle, options.signal);
    logger.debug({ destDir, ...result }, 'archive extracted');
    return result;
  } catch (error) {
    await rm(destDir, { recursive: true, force: true }).catch((cause: unknown) => {
      logger.error({ destDir, err: describeError(cause) }, 'cannot remove failed extraction');
    });
    throw error;
  } finally {
    if (ownHandle) await handle.close().catch(() => undefined);
  }
}

class Extractor {
  private readonly kinds = new Map<string, Kind>([['', 'dir']]);
  private readonly symlinkTargets = new Map<string, string>();
  private readonly dirs = new Map<string, DirRecord>([['', { mode: 0o755, mtime: undefined }]]);
  private readonly pending = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private backgroundError: unknown;
  private readonly result: ExtractResult = {
    entries: 0,
    files: 0,
    directories: 0,
    symlinks: 0,
    hardLinks: 0,
    bytes: 0,
    gzipped: false,
  };
  private declaredBytes = 0;
  /** Read once: files are created with their final mode unless the umask would strip bits. */
  private readonly umask = process.umask();
  /** Cleared by the option, or after repeated slow synchronous writes (see writeSmallFile). */
  syncWrites = true;
  private slowSyncWrites = 0;
  private syncWriteMs = 0;
  private syncWriteCount = 0;

  constructor(
    private readonly root: string,
    private readonly limits: ExtractLimits,
    private readonly owner: Owner | undefined,
    private readonly logger: Logger,
    private readonly shareReadAccess = false,
  ) {}

  /** An entry's mode as written: setuid/setgid dropped, read access shared when asked. */
  private mode(recorded: number | undefined, fallback: number): number {
    const mode = safeMode(recorded, fallback);
    return this.shareReadAccess ? shareRead(mode) : mode;
  }

  async run(handle: FileHandle, signal: AbortSignal | undefined): Promise<ExtractResult> {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    const gzipped = bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    const tarMagic = bytesRead >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
    if (!gzipped && !tarMagic) {
      throw new HoistError(
        HoistErrorCodes.ARCHIVE_UNRECOGNIZED,
        `the artifact is neither gzip-compressed nor a tar archive (${bytesRead} bytes, starts with 0x${head.subarray(0, Math.min(bytesRead, 4)).toString('hex')})`,
        { hint: 'a Hoist artifact is a .tar.gz built with `tar czf`' },
      );
    }
    this.result.gzipped = gzipped;
    const budget = new ByteBudget(() => this.decompressedBudget());
    const { entries, feeding } = streamTar(handle, gzipped, budget);
    const onAbort = () =>
      entries.destroy(new HoistError(HoistErrorCodes.ABORTED, 'extraction aborted'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const entry of entries) {
        if (this.backgroundError !== undefined) throw this.backgroundError;
        await this.handleEntry(entry);
      }
      await feeding;
      await this.drain();
      this.checkSymlinks();
      await this.finishDirectories();
      return this.result;
    } catch (error) {
      entries.destroy();
      feeding.catch(() => undefined);
      await this.drain().catch(() => undefined);
      throw classify(error, this.backgroundError);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private decompressedBudget(): number {
    // Headers, padding and PAX records cost at most a few KiB per entry beyond the file bytes.
    return this.limits.maxTotalBytes + (this.result.entries + 1) * 8192 + 64 * 1024 * 1024;
  }

  private async handleEntry(entry: TarEntry): Promise<void> {
    const header = entry.header;
    const name = header.name;
    const rel = normalizeEntryName(name, HoistErrorCodes.ARCHIVE_PATH_ESCAPE, 'entry');
    const type: string = header.type ?? 'unknown';
    if (
      type === 'character-device' ||
      type === 'block-device' ||
      type === 'fifo' ||
      type === 'unknown' ||
      type === 'pax-header' ||
      type === 'pax-global-header' ||
      type === 'gnu-long-path' ||
      type === 'gnu-long-link-path'
    ) {
      entry.resume();
      throw new HoistError(
        HoistErrorCodes.ARCHIVE_SPECIAL_FILE,
        `archive entry ${JSON.stringify(name)} is a ${type === 'unknown' ? 'tar entry of an unsupported type' : type}; Hoist artifacts may only hold files, directories and links`,
        { details: { entry: name, type } },
      );
    }
    this.result.entries++;
    if (this.result.entries > this.limits.maxEntries) {
      entry.resume();
      throw new HoistError(
        HoistErrorCodes.ARCHIVE_TOO_MANY_ENTRIES,
        `the archive has more than ${this.limits.maxEntries} entries (limit maxEntries)`,
        { details: { limit: this.limits.maxEntries } },
      );
    }
    if (type === 'directory') {
      entry.resume();
      await this.directory(rel, header);
      return;
    }
    if (rel === '') {
      entry.resume();
      throw new HoistError(
        HoistErrorCodes.ARCHIVE_CONFLICT,
        `archive entry ${JSON.stringify(name)} names the archive root but is a ${type}, not a directory`,
        { details: { entry: name } },
      );
    }
    if (type === 'symlink') {
      entry.resume();
      await this.symlink(rel, header);
      return;
    }
    if (type === 'link') {
      entry.resume();
      await this.hardLink(rel, header);
      return;
    }
    await this.file(rel, header, entry);
  }

  private async directory(rel: string, header: tar.Header): Promise<void> {
    const existing = this.kinds.get(rel);
    if (existing !== undefined && existing !== 'dir') {
      throw conflict(rel, `a ${existing}`, 'a directory');
    }
    if (existing === undefined) await this.makeDirs(rel);
    this.dirs.set(rel, { mode: this.mode(header.mode, 0o755), mtime: header.mtime });
  }

  private async symlink(rel: string, header: tar.Header): Promise<void> {
    const target = header.linkname ?? '';
    if (target === '' || target.includes('\0')) {
      throw new HoistError(
        HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
        `symlink ${JSON.stringify(rel)} in the archive has an empty or invalid target`,
        { details: { entry: rel } },
      );
    }
    await this.prepareSlot(rel, 'a symlink');
    this.kinds.set(rel, 'symlink');
    this.symlinkTargets.set(rel, target);
    if (!this.staysInside(rel)) {
      throw linkEscape(rel, target);
    }
    const path = this.abs(rel);
    try {
      await symlink(target, path);
      if (this.owner !== undefined) await lchown(path, this.owner.uid, this.owner.gid);
      if (header.mtime !== undefined) await lutimes(path, header.mtime, header.mtime);
    } catch (cause) {
      throw ioError(`cannot create symlink ${rel}`, cause);
    }
    this.result.symlinks++;
  }

  private async hardLink(rel: string, header: tar.Header): Promise<void> {
    const linkname = header.linkname ?? '';
    const target = normalizeEntryName(
      linkname,
      HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
      'hard link target',
    );
    if (target === rel) {
      // A hard link to itself (P2's file_with_selflink fixture): nothing to do, as GNU tar.
      if (this.kinds.get(rel) === 'file') return;
    }
    const targetKind = this.kinds.get(target);
    if (targetKind !== 'file' && targetKind !== 'symlink') {
      throw new HoistError(
        HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
        `hard link ${JSON.stringify(rel)} points to ${JSON.stringify(linkname)}, which is not a file extracted earlier from this archive`,
        { details: { entry: rel, linkname } },
      );
    }
    await this.pending.get(target);
    await this.prepareSlot(rel, 'a hard link');
    try {
      await hardLink(this.abs(target), this.abs(rel));
    } catch (cause) {
      throw ioError(`cannot create hard link ${rel} -> ${target}`, cause);
    }
    this.kinds.set(rel, targetKind);
    if (targetKind === 'symlink') {
      this.symlinkTargets.set(rel, this.symlinkTargets.get(target) ?? '');
    }
    this.result.hardLinks++;
  }

  private async file(rel: string, header: tar.Header, entry: TarEntry): Promise<void> {
    const size = header.size ?? 0;
    if (size > this.limits.maxFileBytes) {
      entry.resume();
      throw new HoistError(
        HoistErrorCodes.ARCHIVE_FILE_TOO_LARGE,
        `archive entry ${JSON.stringify(rel)} is ${size} bytes, more than the ${this.limits.maxFileBytes}-byte limit (maxFileBytes)`,
        { details: { entry: rel, size, limit: this.limits.maxFileBytes } },
      );
    }
    this.declaredBytes += size;
    if (this.declaredBytes > this.limits.maxTotalBytes) {
      entry.resume();
      throw tooLarge(this.limits.maxTotalBytes);
    }
    await this.prepareSlot(rel, 'a file');
    this.kinds.set(rel, 'file');
    const mode = this.mode(header.mode, 0o644);
    const path = this.abs(rel);
    if (size <= SMALL_FILE_BYTES) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.background(rel, this.writeSmallFile(path, data, mode, header.mtime));
    } else {
      await this.writeLargeFile(path, entry, mode, header.mtime);
    }
    this.result.files++;
    this.result.bytes += size;
  }

  private background(rel: string, work: Promise<void>): void {
    const tracked = work.then(
      () => {
        this.inFlight.delete(tracked);
        if (this.pending.get(rel) === tracked) this.pending.delete(rel);
      },
      (error: unknown) => {
        this.inFlight.delete(tracked);
        if (this.pending.get(rel) === tracked) this.pending.delete(rel);
        this.backgroundError ??= error;
      },
    );
    this.inFlight.add(tracked);
    this.pending.set(rel, tracked);
  }

  private async throttle(): Promise<void> {
    while (this.inFlight.size >= MAX_WRITES_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.backgroundError !== undefined) throw this.backgroundError;
  }

  private async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
    if (this.backgroundError !== undefined) throw this.backgroundError;
  }

  /**
   * Writes a small file. Up to {@link SYNC_WRITE_MAX_BYTES} the system calls (open, write,
   * [fchown], [fchmod], futimes, close) run synchronously: each async call costs a round trip
   * through libuv's thread pool, which made many-small-file artifacts ~1.8x slower than GNU tar;
   * synchronous page-cache writes of a few KiB block the event loop for microseconds. When one
   * takes longer than {@link SYNC_WRITE_STALL_MS} three times, or they average more than
   * {@link SYNC_WRITE_AVERAGE_MS} (a disk under writeback pressure), the rest of the
   * archive is written asynchronously so the event loop stays responsive (the bench reports the
   * event-loop delay). Larger files use one promise over plain fd callbacks.
   */
  private writeSmallFile(
    path: string,
    data: Buffer,
    mode: number,
    mtime: Date | undefined,
  ): Promise<void> {
    const owner = this.owner;
    const needsChmod = (mode & ~this.umask) !== mode;
    if (this.syncWrites && data.length <= SYNC_WRITE_MAX_BYTES) {
      const started = performance.now();
      try {
        const fd = openSync(path, CREATE_FLAGS, mode);
        try {
          if (data.length > 0) writeSync(fd, data, 0, data.length, 0);
          if (owner !== undefined) fchownSync(fd, owner.uid, owner.gid);
          if (needsChmod) fchmodSync(fd, mode);
          if (mtime !== undefined) futimesSync(fd, mtime, mtime);
        } finally {
          closeSync(fd);
        }
        const elapsed = performance.now() - started;
        this.syncWriteMs += elapsed;
        this.syncWriteCount++;
        if (
          (elapsed > SYNC_WRITE_STALL_MS && ++this.slowSyncWrites >= 3) ||
          (this.syncWriteCount >= 32 &&
            this.syncWriteMs / this.syncWriteCount > SYNC_WRITE_AVERAGE_MS)
        ) {
          // The disk is pushing back (writeback throttling): stop blocking the event loop. Three
          // strikes or a slow average, so that one descheduling of a busy CPU does not count.
          this.syncWrites = false;
          this.logger.debug({ path }, 'slow synchronous writes; switching to asynchronous writes');
        }
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(ioError(`cannot write ${path}`, error));
      }
    }
    return new Promise<void>((resolve, reject) => {
      fsOpen(path, CREATE_FLAGS, mode, (openError, fd) => {
        if (openError) {
          reject(ioError(`cannot create ${path}`, openError));
          return;
        }
        const steps: Array<(next: (error: Error | null) => void) => void> = [];
        if (data.length > 0)
          steps.push((next) => fsWrite(fd, data, 0, data.length, 0, (e) => next(e)));
        if (owner !== undefined) steps.push((next) => fsFchown(fd, owner.uid, owner.gid, next));
        if (needsChmod) steps.push((next) => fsFchmod(fd, mode, next));
        if (mtime !== undefined) steps.push((next) => fsFutimes(fd, mtime, mtime, next));
        const finish = (failure: Error | null) =>
          fsClose(fd, (closeError) => {
            const error = failure ?? closeError;
            if (error) reject(ioError(`cannot write ${path}`, error));
            else resolve();
          });
        const run = (index: number): void => {
          const step = steps[index];
          if (step === undefined) {
            finish(null);
            return;
          }
          step((error) => (error ? finish(error) : run(index + 1)));
        };
        run(0);
      });
    });
  }

  private async writeLargeFile(
    path: string,
    entry: TarEntry,
    mode: number,
    mtime: Date | undefined,
  ): Promise<void> {
    let file: FileHandle;
    try {
      file = await open(path, CREATE_FLAGS, 0o600);
    } catch (cause) {
      entry.resume();
      throw ioError(`cannot create ${path}`, cause);
    }
    try {
      let batch: Buffer[] = [];
      let batchBytes = 0;
      for await (const item of entry) {
        const chunk = item as Buffer;
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BATCH_BYTES) {
          await file.writev(batch);
          batch = [];
          batchBytes = 0;
        }
      }
      if (batch.length > 0) await file.writev(batch);
      await this.finishFile(file, mode, mtime);
    } catch (cause) {
      if (cause instanceof HoistError) throw cause;
      throw ioError(`cannot write ${path}`, cause);
    } finally {
      await file.close();
    }
  }

  private async finishFile(file: FileHandle, mode: number, mtime: Date | undefined): Promise<void> {
    if (this.owner !== undefined) await file.chown(this.owner.uid, this.owner.gid);
    await file.chmod(mode);
    if (mtime !== undefined) await file.utimes(mtime, mtime);
  }

  /**
   * Makes `rel` ready to receive a new non-directory entry: its parents exist as real directories
   * (never symlinks), and an earlier file or symlink of the same name is removed (as GNU tar does).
   */
  private async prepareSlot(rel: string, what: string): Promise<void> {
    await this.throttle();
    await this.makeDirs(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
    const existing = this.kinds.get(rel);
    if (existing === 'dir') throw conflict(rel, 'a directory', what);
    if (existing !== undefined) {
      await this.pending.get(rel);
      try {
        await unlink(this.abs(rel));
      } catch (cause) {
        throw ioError(`cannot replace ${rel}`, cause);
      }
      this.kinds.delete(rel);
      this.symlinkTargets.delete(rel);
    }
  }

  /** Creates `rel` and its missing parents as directories, refusing to pass through links or files. */
  private async makeDirs(rel: string): Promise<void> {
    if (rel === '' || this.kinds.get(rel) === 'dir') return;
    const parts = rel.split('/');
    let prefix = '';
    for (const part of parts) {
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      const kind = this.kinds.get(prefix);
      if (kind === 'dir') continue;
      if (kind === 'symlink') {
        throw new HoistError(
          HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
          `archive entry below ${JSON.stringify(prefix)} would be written through a symlink (${prefix} -> ${this.symlinkTargets.get(prefix)})`,
          { details: { entry: rel, symlink: prefix } },
        );
      }
      if (kind === 'file') throw conflict(prefix, 'a file', 'a directory');
      try {
        await mkdir(this.abs(prefix), { mode: 0o700 });
      } catch (cause) {
        throw ioError(`cannot create directory ${prefix}`, cause);
      }
      this.kinds.set(prefix, 'dir');
      this.dirs.set(prefix, { mode: 0o755, mtime: undefined });
      this.result.directories++;
    }
  }

  /**
   * Resolves a symlink the way the kernel will, through the other symlinks the archive created,
   * and tells whether it stays inside the root. Dangling targets inside the root are fine.
   */
  private staysInside(rel: string): boolean {
    const parent = posix.dirname(rel) === '.' ? [] : posix.dirname(rel).split('/');
    const first = this.symlinkTargets.get(rel) ?? '';
    if (first.startsWith('/')) return false;
    const todo = [...first.split('/')];
    const resolved = [...parent];
    let hops = 0;
    while (todo.length > 0) {
      const part = todo.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (resolved.length === 0) return false;
        resolved.pop();
        continue;
      }
      const candidate = resolved.length === 0 ? part : `${resolved.join('/')}/${part}`;
      if (this.kinds.get(candidate) === 'symlink') {
        if (++hops > MAX_SYMLINK_HOPS) return false;
        const next = this.symlinkTargets.get(candidate) ?? '';
        if (next.startsWith('/')) return false;
        todo.unshift(...next.split('/'));
        continue;
      }
      resolved.push(part);
    }
    return true;
  }

  /** Re-checks every symlink once the tree is complete: a later symlink can redirect an earlier one. */
  private checkSymlinks(): void {
    for (const [rel, target] of this.symlinkTargets) {
      if (!this.staysInside(rel)) throw linkEscape(rel, target);
    }
  }

  private async finishDirectories(): Promise<void> {
    const ordered = [...this.dirs.entries()].sort(
      ([a], [b]) => depth(b) - depth(a) || (a < b ? -1 : 1),
    );
    try {
      for (const [rel, record] of ordered) {
        const path = this.abs(rel);
        if (this.owner !== undefined) await chown(path, this.owner.uid, this.owner.gid);
        await chmod(path, record.mode);
        if (record.mtime !== undefined) await utimes(path, record.mtime, record.mtime);
      }
    } catch (cause) {
      throw ioError('cannot set directory permissions', cause);
    }
    this.logger.trace({ directories: ordered.length }, 'directory modes applied');
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }
}

/**
 * Streams a tar (gzip-compressed when `gzipped`) from offset 0 of `handle` through `budget` into
 * a tar-stream extractor. `feeding` settles when the source is consumed; its rejection is already
 * handled (when an entry fails — ENOSPC — leaving the loop destroys `entries`, and the pipeline's
 * "premature close" may reject before the caller awaits it; unhandled, that rejection killed the
 * whole preparer), and is still thrown by `await feeding`. Shared with `@p2/oci-image`.
 */
export function streamTar(
  handle: FileHandle,
  gzipped: boolean,
  budget: ByteBudget,
): { entries: tar.Extract; feeding: Promise<void> } {
  const entries = tar.extract();
  const source = handle.createReadStream({ start: 0, autoClose: false, highWaterMark: 256 * 1024 });
  const feeding = (
    gzipped
      ? pipeline(source, createGunzip({ chunkSize: 128 * 1024 }), budget, entries)
      : pipeline(source, budget, entries)
  ).catch((error: unknown) => {
    entries.destroy(error as Error);
    throw error;
  });
  feeding.catch(() => undefined);
  return { entries, feeding };
}

/**
 * Counts decompressed bytes and fails once they pass a budget (a gzip bomb of padding), with the
 * error `exceeded` makes. Shared with `@p2/oci-image`.
 */
export class ByteBudget extends Transform {
  private seen = 0;
  constructor(
    private readonly budget: () => number,
    private readonly exceeded: (limit: number) => Error = budgetExceeded,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    const limit = this.budget();
    if (this.seen > limit) {
      callback(this.exceeded(limit));
      return;
    }
    callback(null, chunk);
  }
}

function budgetExceeded(limit: number): HoistError {
  return new HoistError(
    HoistErrorCodes.ARCHIVE_TOO_LARGE,
    `the decompressed archive passed ${limit} bytes (limit maxTotalBytes plus headers)`,
    { details: { limit } },
  );
}

function depth(rel: string): number {
  return rel === '' ? 0 : rel.split('/').length;
}

/** The owner's read and execute bits, copied to group and others. */
function shareRead(mode: number): number {
  const rx = mode & 0o500;
  return mode | (rx >> 3) | (rx >> 6);
}

/** Keeps permission bits and the sticky bit; drops setuid and setgid. */
function safeMode(mode: number | undefined, fallback: number): number {
  return mode === undefined ? fallback : mode & 0o1777;
}

/** Why an archive entry name cannot be extracted; see {@link entryNameProblem}. */
export type EntryNameProblem = 'nul' | 'absolute' | 'dot-dot';

/**
 * Why an archive entry name could write outside the extraction root, or undefined when it cannot:
 * a NUL byte, an absolute path, or a `..` part. Shared by every extractor of untrusted tars (Hoist
 * artifacts, OCI image layers).
 * @example entryNameProblem('../etc/passwd') // 'dot-dot'
 */
export function entryNameProblem(name: string): EntryNameProblem | undefined {
  if (name.includes('\0')) return 'nul';
  if (name.startsWith('/')) return 'absolute';
  if (name.split('/').includes('..')) return 'dot-dot';
  return undefined;
}

/**
 * An entry name, checked with {@link entryNameProblem}, as a relative path without empty or `.`
 * parts; `''` is the archive root.
 */
export function entryNameParts(name: string): string[] {
  return name.split('/').filter((part) => part !== '' && part !== '.');
}

/**
 * Normalises an entry name to a relative path without `.` parts; `''` is the archive root.
 * @internal
 */
export function normalizeEntryName(name: string, code: HoistErrorCode, what: string): string {
  const problem = entryNameProblem(name);
  if (problem === 'nul') {
    throw new HoistError(code, `${what} ${JSON.stringify(name)} contains a NUL byte`, {
      details: { entry: name },
    });
  }
  if (problem === 'absolute') {
    throw new HoistError(
      code,
      `${what} ${JSON.stringify(name)} is an absolute path; archive entries must stay inside the install directory`,
      { details: { entry: name } },
    );
  }
  if (problem === 'dot-dot') {
    throw new HoistError(
      code,
      `${what} ${JSON.stringify(name)} contains "..", which could write outside the install directory`,
      { details: { entry: name } },
    );
  }
  return entryNameParts(name).join('/');
}

function conflict(rel: string, existing: string, incoming: string): HoistError {
  return new HoistError(
    HoistErrorCodes.ARCHIVE_CONFLICT,
    `archive entry ${JSON.stringify(rel)} is ${existing} earlier in the archive and ${incoming} later`,
    { details: { entry: rel } },
  );
}

function linkEscape(rel: string, target: string): HoistError {
  return new HoistError(
    HoistErrorCodes.ARCHIVE_LINK_ESCAPE,
    `symlink ${JSON.stringify(rel)} -> ${JSON.stringify(target)} points outside the install directory`,
    {
      hint: 'Hoist artifacts may only contain symlinks to paths inside the artifact',
      details: { entry: rel, target },
    },
  );
}

function tooLarge(limit: number): HoistError {
  return new HoistError(
    HoistErrorCodes.ARCHIVE_TOO_LARGE,
    `the archive's files add up to more than ${limit} bytes (limit maxTotalBytes)`,
    { details: { limit } },
  );
}

function ioError(what: string, cause: unknown): HoistError {
  const hint = hasErrno(cause, 'ENOSPC')
    ? 'the disk is full; free space or lower the number of kept installs'
    : hasErrno(cause, 'EACCES', 'EPERM')
      ? 'hoist needs write access to the pod home (run the preparer as root)'
      : undefined;
  return new HoistError(HoistErrorCodes.IO, `${what}: ${describeError(cause)}`, {
    cause,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** Converts zlib and tar-stream failures into hoist codes. */
function classify(error: unknown, backgroundError: unknown): unknown {
  const chosen = error === undefined ? backgroundError : error;
  if (chosen instanceof HoistError) return chosen;
  const message = describeError(chosen);
  const zlibCode =
    typeof chosen === 'object' && chosen !== null && 'code' in chosen
      ? String((chosen as { code: unknown }).code)
      : '';
  if (/unexpected end of (file|data)/i.test(message)) {
    return new HoistError(
      HoistErrorCodes.ARCHIVE_TRUNCATED,
      `the archive ends early (${message}); the download or the build was cut short`,
      { cause: chosen, hint: 'rebuild or re-upload the artifact' },
    );
  }
  if (
    zlibCode.startsWith('Z_') ||
    /invalid (tar )?header|header exceeds|incorrect header/i.test(message)
  ) {
    return new HoistError(HoistErrorCodes.ARCHIVE_CORRUPT, `the archive is damaged: ${message}`, {
      cause: chosen,
      hint: 'rebuild or re-upload the artifact',
    });
  }
  return ioError('extraction failed', chosen);
}
