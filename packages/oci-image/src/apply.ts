import { constants as fsConstants, type Stats } from 'node:fs';
import {
  chmod,
  chown,
  type FileHandle,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readlink,
  rm,
  symlink,
  unlink,
} from 'node:fs/promises';
import { describeError } from '@p2/errors';
import {
  ByteBudget,
  type ExtractLimits,
  entryNameParts,
  entryNameProblem,
  streamTar,
} from '@p2/hoist';
import type { Logger } from 'pino';
import type tar from 'tar-stream';
import { OciImageError, OciImageErrorCode } from './errors.js';

type TarEntry = tar.ExtractEvents['entry'][1];

/** A Unix owner for everything written into the root filesystem. */
export interface Owner {
  uid: number;
  gid: number;
}

/** What applying the layers wrote, over all layers. */
export interface ApplyTotals {
  entries: number;
  files: number;
  bytes: number;
  /** Device nodes and FIFOs skipped (the runtime makes `/dev`, as runc does). */
  skippedSpecial: number;
  whiteouts: number;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_SYMLINK_HOPS = 40;
const CREATE_FLAGS =
  fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
/** Keeps permission bits and the sticky bit; drops setuid, setgid and write for others. */
const MODE_MASK = 0o1775;

/**
 * Applies image layers, in order, to a root filesystem. Every path is resolved the way the
 * container will see it — symlinks made by earlier entries or layers are followed *inside* the
 * root, never out of it (an absolute target restarts at the root, `..` stops there) — and the
 * last component of a path is never followed: it is replaced. Each layer is read twice from its
 * verified blob: first its whiteouts are applied to the layers below, then its other entries are
 * written (so a whiteout never removes what its own layer adds, whatever the entry order).
 * @internal
 */
export class LayerApplier {
  readonly totals: ApplyTotals = {
    entries: 0,
    files: 0,
    bytes: 0,
    skippedSpecial: 0,
    whiteouts: 0,
  };
  private declaredBytes = 0;

  constructor(
    private readonly root: string,
    private readonly limits: ExtractLimits,
    private readonly owner: Owner,
    private readonly logger: Logger,
  ) {}

  /** Applies one verified layer blob (gzip or plain tar, read from offset 0 of `handle`). */
  async apply(handle: FileHandle, digest: string): Promise<void> {
    const gzipped = await isGzip(handle);
    await this.read(handle, gzipped, digest, (entry) => this.whiteoutPass(entry));
    await this.read(handle, gzipped, digest, (entry) => this.writePass(entry));
  }

  private async read(
    handle: FileHandle,
    gzipped: boolean,
    digest: string,
    onEntry: (entry: TarEntry) => Promise<void>,
  ): Promise<void> {
    const budget = new ByteBudget(
      () => this.limits.maxTotalBytes + (this.totals.entries + 1) * 8192 + 64 * 1024 * 1024,
      (limit) =>
        new OciImageError(
          OciImageErrorCode.TOO_LARGE,
          `layer ${digest} decompresses to more than ${limit} bytes (limit maxTotalBytes plus headers)`,
          { details: { digest, limit } },
        ),
    );
    const { entries, feeding } = streamTar(handle, gzipped, budget);
    try {
      for await (const entry of entries) {
        try {
          await onEntry(entry);
        } finally {
          entry.resume();
        }
      }
      await feeding;
    } catch (error) {
      entries.destroy();
      throw classify(error, digest);
    }
  }

  /** Pass one: whiteouts remove what the layers below put there; every entry counts against maxEntries. */
  private async whiteoutPass(entry: TarEntry): Promise<void> {
    this.totals.entries++;
    if (this.totals.entries > this.limits.maxEntries) {
      throw new OciImageError(
        OciImageErrorCode.TOO_MANY_ENTRIES,
        `the image's layers have more than ${this.limits.maxEntries} entries (limit maxEntries)`,
        { details: { limit: this.limits.maxEntries } },
      );
    }
    const parts = this.entryParts(entry.header.name);
    const base = parts.at(-1);
    if (base === undefined || !base.startsWith(WHITEOUT)) return;
    const dir = await this.resolve(parts.slice(0, -1), false);
    if (dir === undefined) return;
    this.totals.whiteouts++;
    if (base === OPAQUE) {
      const info = await lstat(this.abs(dir)).catch(() => undefined);
      if (!info?.isDirectory()) return;
      for (const child of await readdir(this.abs(dir))) {
        await this.remove([...dir, child]);
      }
      return;
    }
    if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // aufs metadata (.wh..wh.plnk…): nothing to delete
    const name = base.slice(WHITEOUT.length);
    if (name === '' || name === '.' || name === '..') return;
    await this.remove([...dir, name]);
  }

  /** Pass two: files, directories and links; whiteouts are skipped. */
  private async writePass(entry: TarEntry): Promise<void> {
    const header = entry.header;
    const parts = this.entryParts(header.name);
    const base = parts.at(-1);
    if (base?.startsWith(WHITEOUT)) return;
    const type = header.type ?? 'unknown';
    if (
      type !== 'file' &&
      type !== 'contiguous-file' &&
      type !== 'directory' &&
      type !== 'symlink' &&
      type !== 'link'
    ) {
      this.totals.skippedSpecial++;
      this.logger.debug({ entry: header.name, type }, 'layer entry skipped (special file)');
      return;
    }
    const mode = (header.mode ?? (type === 'directory' ? 0o755 : 0o644)) & MODE_MASK;
    if (base === undefined) {
      // The layer's root directory (`./`): the rootfs itself keeps its own mode.
      if (type !== 'directory')
        throw conflict(header.name, 'the root of the image is not a directory');
      return;
    }
    const dir = (await this.resolve(parts.slice(0, -1), true))!;
    const target = [...dir, base];
    const path = this.abs(target);
    const existing = await lstat(path).catch(() => undefined);
    if (type === 'directory') {
      if (existing?.isDirectory()) {
        await this.io(`cannot set the mode of ${header.name}`, () => chmod(path, mode));
        return;
      }
      if (existing !== undefined) await this.remove(target);
      await this.io(`cannot create directory ${header.name}`, async () => {
        await mkdir(path, { mode: 0o700 });
        await chown(path, this.owner.uid, this.owner.gid);
        await chmod(path, mode);
      });
      return;
    }
    if (type === 'link') {
      const linked = await this.linkTarget(header.linkname ?? '', header.name);
      if (linked.join('/') === target.join('/')) return; // a hard link to itself
      if (existing !== undefined) await this.remove(target);
      await this.io(`cannot create hard link ${header.name}`, () => link(this.abs(linked), path));
      return;
    }
    if (existing !== undefined) await this.remove(target);
    if (type === 'symlink') {
      const linkname = header.linkname ?? '';
      if (linkname === '' || linkname.includes('\0')) {
        throw new OciImageError(
          OciImageErrorCode.LINK_INVALID,
          `symlink ${JSON.stringify(header.name)} has an empty or invalid target`,
          { details: { entry: header.name } },
        );
      }
      // Any target is fine: it is resolved inside the container, and this applier never follows it out.
      await this.io(`cannot create symlink ${header.name}`, async () => {
        await symlink(linkname, path);
        await lchown(path, this.owner.uid, this.owner.gid);
        if (header.mtime !== undefined) await lutimes(path, header.mtime, header.mtime);
      });
      return;
    }
    await this.file(entry, path, mode, header);
  }

  private async file(
    entry: TarEntry,
    path: string,
    mode: number,
    header: tar.Header,
  ): Promise<void> {
    const size = header.size ?? 0;
    if (size > this.limits.maxFileBytes) {
      throw new OciImageError(
        OciImageErrorCode.FILE_TOO_LARGE,
        `layer entry ${JSON.stringify(header.name)} is ${size} bytes, more than the ${this.limits.maxFileBytes}-byte limit (maxFileBytes)`,
        { details: { entry: header.name, limit: this.limits.maxFileBytes } },
      );
    }
    this.declaredBytes += size;
    if (this.declaredBytes > this.limits.maxTotalBytes) {
      throw new OciImageError(
        OciImageErrorCode.TOO_LARGE,
        `the image's files add up to more than ${this.limits.maxTotalBytes} bytes (limit maxTotalBytes)`,
        { details: { limit: this.limits.maxTotalBytes } },
      );
    }
    await this.io(`cannot write ${header.name}`, async () => {
      const file = await open(path, CREATE_FLAGS, 0o600);
      try {
        let position = 0;
        for await (const chunk of entry) {
          const data = chunk as Buffer;
          await file.write(data, 0, data.length, position);
          position += data.length;
        }
        await file.chown(this.owner.uid, this.owner.gid);
        await file.chmod(mode);
        if (header.mtime !== undefined) await file.utimes(header.mtime, header.mtime);
      } finally {
        await file.close();
      }
    });
    this.totals.files++;
    this.totals.bytes += size;
  }

  /** A hard link's target: an existing file or symlink inside the root (its last part not followed). */
  private async linkTarget(linkname: string, entry: string): Promise<string[]> {
    const parts = this.entryParts(linkname);
    const dir = parts.length === 0 ? undefined : await this.resolve(parts.slice(0, -1), false);
    const target = dir === undefined ? undefined : [...dir, parts.at(-1)!];
    const info =
      target === undefined ? undefined : await lstat(this.abs(target)).catch(() => undefined);
    if (target === undefined || info === undefined || info.isDirectory()) {
      throw new OciImageError(
        OciImageErrorCode.LINK_INVALID,
        `hard link ${JSON.stringify(entry)} points to ${JSON.stringify(linkname)}, which is not a file of this image`,
        { details: { entry } },
      );
    }
    return target;
  }

  /**
   * Resolves directory parts inside the root, following symlinks as the container would (an
   * absolute target restarts at the root, `..` never climbs above it). Missing directories are
   * created (0755, owned by the owner) when `create`, else the answer is undefined.
   */
  private async resolve(parts: string[], create: boolean): Promise<string[] | undefined> {
    const todo = [...parts];
    const resolved: string[] = [];
    let hops = 0;
    while (todo.length > 0) {
      const part = todo.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        resolved.pop();
        continue;
      }
      const candidate = [...resolved, part];
      const info: Stats | undefined = await lstat(this.abs(candidate)).catch(() => undefined);
      if (info === undefined) {
        if (!create) return undefined;
        await this.io(`cannot create directory ${candidate.join('/')}`, async () => {
          await mkdir(this.abs(candidate), { mode: 0o755 });
          await chown(this.abs(candidate), this.owner.uid, this.owner.gid);
        });
        resolved.push(part);
        continue;
      }
      if (info.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new OciImageError(
            OciImageErrorCode.LINK_INVALID,
            `${parts.join('/')} resolves through more than ${MAX_SYMLINK_HOPS} symlinks`,
            { details: { entry: parts.join('/') } },
          );
        }
        const target = await readlink(this.abs(candidate));
        if (target.startsWith('/')) resolved.length = 0;
        todo.unshift(...target.split('/'));
        continue;
      }
      if (!info.isDirectory()) {
        if (!create) return undefined;
        throw conflict(parts.join('/'), `${candidate.join('/')} is a file, not a directory`);
      }
      resolved.push(part);
    }
    return resolved;
  }

  /** Removes a path inside the root without following it (a symlink is removed, not its target). */
  private async remove(parts: string[]): Promise<void> {
    const path = this.abs(parts);
    const info = await lstat(path).catch(() => undefined);
    if (info === undefined) return;
    await this.io(`cannot remove ${parts.join('/')}`, () =>
      info.isDirectory() ? rm(path, { recursive: true, force: true }) : unlink(path),
    );
  }

  /** An entry name as parts, refusing absolute names and `..` (the checks of Hoist artifacts). */
  private entryParts(name: string): string[] {
    const problem = entryNameProblem(name);
    if (problem !== undefined) {
      const why =
        problem === 'nul'
          ? 'contains a NUL byte'
          : problem === 'absolute'
            ? 'is an absolute path'
            : 'contains ".."';
      throw new OciImageError(
        OciImageErrorCode.PATH_ESCAPE,
        `layer entry ${JSON.stringify(name)} ${why}; layer entries must stay inside the root filesystem`,
        { details: { entry: name } },
      );
    }
    return entryNameParts(name);
  }

  private async io<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (cause) {
      if (cause instanceof OciImageError) throw cause;
      throw new OciImageError(OciImageErrorCode.IO, `${what}: ${describeError(cause)}`, { cause });
    }
  }

  private abs(parts: string[]): string {
    return parts.length === 0 ? this.root : `${this.root}/${parts.join('/')}`;
  }
}

async function isGzip(handle: FileHandle): Promise<boolean> {
  const head = Buffer.alloc(2);
  const { bytesRead } = await handle.read(head, 0, 2, 0);
  return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
}

function conflict(entry: string, why: string): OciImageError {
  return new OciImageError(
    OciImageErrorCode.CONFLICT,
    `layer entry ${JSON.stringify(entry)}: ${why}`,
    {
      details: { entry },
    },
  );
}

/** Converts zlib and tar-stream failures into `LAYER_CORRUPT`. */
function classify(error: unknown, digest: string): unknown {
  if (error instanceof OciImageError) return error;
  return new OciImageError(
    OciImageErrorCode.LAYER_CORRUPT,
    `layer ${digest} cannot be read: ${describeError(error)}`,
    { cause: error, details: { digest } },
  );
}
