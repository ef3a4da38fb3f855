/**
 * Durability: an append-only log of effects (one JSON line each) plus a snapshot.
 *
 * - A write is acknowledged only after its line is written and `fdatasync`ed (group commit: all
 *   effects that arrive while a sync runs share the next one).
 * - When the log grows past `compactBytes`, the whole state is written to `snapshot.json.tmp`,
 *   fsynced, renamed over `snapshot.json` (the directory is fsynced too), and the log is truncated.
 *   Replay skips log lines at or below the snapshot's index, so a crash between the two steps is safe.
 * - A torn last line (crash mid-append) was never acknowledged: replay drops it and truncates the file.
 * - A short or failed write is cut off the file again and memory is reloaded from disk; from then on
 *   every write fails until a restart. Snapshots carry a SHA-256; a damaged one refuses to start.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { type FileHandle, mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { KvServerError, KvServerErrorCodes } from './errors.js';
import type { Effect, Snapshot, State } from './state.js';

/** What a start found on disk (logged by the server, printed by the binary). */
export interface Recovery {
  /** The index the snapshot covers (0: no snapshot). */
  snapshotIndex: number;
  /** Keys in the snapshot. */
  snapshotKeys: number;
  /** Log records applied on top of the snapshot. */
  replayed: number;
  /** Bytes of whole records in the log (where the torn tail, if any, began). */
  logBytes: number;
  /** Bytes of a torn last record dropped (a crash mid-append: never acknowledged). */
  tornBytes: number;
  /** The index after recovery. */
  index: number;
}

const SNAPSHOT_MAGIC = 'p2-kv-snapshot';

/** A snapshot file: a header line with the body's length and SHA-256, then the JSON body. */
function encodeSnapshot(snapshot: Snapshot): Buffer {
  const body = Buffer.from(JSON.stringify(snapshot));
  const sha256 = createHash('sha256').update(body).digest('hex');
  const header = JSON.stringify({ format: SNAPSHOT_MAGIC, bytes: body.length, sha256 });
  return Buffer.concat([Buffer.from(`${header}\n`), body]);
}

/**
 * Reads a snapshot, refusing one whose bytes do not match the checksum: the log was truncated when
 * it was written, so it is the only copy of what it holds — serving a damaged one would be serving
 * a wrong state. A snapshot without a header (written before checksums) is read as plain JSON.
 */
function parseSnapshot(bytes: Buffer, path: string): Snapshot {
  const corrupt = (why: string, cause?: unknown) =>
    new KvServerError(KvServerErrorCodes.DATA_CORRUPT, `snapshot ${path} is corrupt: ${why}`, {
      cause,
      hint: 'its writes exist nowhere else: stop here and restore the data directory from a backup; only to start over with an empty store, move snapshot.json and kv.log aside',
    });
  const newline = bytes.indexOf(0x0a);
  let body = bytes;
  if (newline !== -1) {
    let header: { format?: unknown; bytes?: unknown; sha256?: unknown };
    try {
      header = JSON.parse(bytes.toString('utf8', 0, newline)) as typeof header;
    } catch (cause) {
      throw corrupt('its header is not valid JSON', cause);
    }
    if (header.format !== SNAPSHOT_MAGIC)
      throw corrupt('its header is not a p2-kv-snapshot header');
    body = bytes.subarray(newline + 1);
    if (body.length !== header.bytes) {
      throw corrupt(`${body.length} bytes of body where the header says ${String(header.bytes)}`);
    }
    if (createHash('sha256').update(body).digest('hex') !== header.sha256) {
      throw corrupt('its SHA-256 does not match the header (bytes changed on disk)');
    }
  }
  try {
    return JSON.parse(body.toString('utf8')) as Snapshot;
  } catch (cause) {
    throw corrupt('it is not valid JSON', cause);
  }
}

/** @internal */
export class DurableLog {
  private handle: FileHandle | undefined;
  private size = 0;
  private pending: Buffer[] = [];
  private waiters: (() => void)[] = [];
  private failures: ((error: unknown) => void)[] = [];
  private flushing: Promise<void> | undefined;
  /** The first failed write: every later append fails with it (memory must not drift from disk). */
  private failed: unknown;
  /** Set when memory could not be reloaded after a failed write. */
  rollBackError: unknown;
  private lastFlush: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly state: State,
    private readonly compactBytes: number,
  ) {}

  private get logPath(): string {
    return join(this.dir, 'kv.log');
  }

  private get snapshotPath(): string {
    return join(this.dir, 'snapshot.json');
  }

  /** Loads snapshot + log into the state and opens the log for appending. */
  async open(): Promise<Recovery> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 }).catch((cause: unknown) => {
      throw new KvServerError(
        KvServerErrorCodes.DATA_DIR,
        `cannot create data directory ${this.dir}`,
        {
          cause,
          hint: 'check the path and its permissions, or pass another --data-dir',
        },
      );
    });
    const recovery = this.load();
    this.handle = await open(this.logPath, 'a+', 0o600);
    if (recovery.tornBytes > 0) {
      await this.handle.truncate(recovery.logBytes);
      await this.handle.sync();
    }
    this.size = recovery.logBytes;
    return recovery;
  }

  /** Reads snapshot + log into the (empty) state; says what it found. Changes no file. */
  private load(): Recovery {
    let snapshotIndex = 0;
    let snapshotKeys = 0;
    const snapshotBytes = readIfExists(this.snapshotPath);
    if (snapshotBytes !== undefined) {
      const snapshot = parseSnapshot(snapshotBytes, this.snapshotPath);
      this.state.restore(snapshot);
      snapshotIndex = snapshot.index;
      snapshotKeys = snapshot.entries.length;
    }
    const log = readIfExists(this.logPath) ?? Buffer.alloc(0);
    let replayed = 0;
    let offset = 0;
    while (offset < log.length) {
      const end = log.indexOf(0x0a, offset);
      if (end === -1) break; // torn tail: never acknowledged
      let effect: Effect;
      try {
        effect = JSON.parse(log.toString('utf8', offset, end)) as Effect;
      } catch (cause) {
        throw new KvServerError(
          KvServerErrorCodes.DATA_CORRUPT,
          `log ${this.logPath} has an unreadable record at byte ${offset} (of ${log.length})`,
          {
            cause,
            hint: 'the file was changed by something other than p2-kv-server; restore the data directory from a backup (records before that byte are intact)',
          },
        );
      }
      if (effect.i > snapshotIndex || effect.reap !== undefined) {
        this.state.apply(effect);
        replayed++;
      }
      offset = end + 1;
    }
    return {
      snapshotIndex,
      snapshotKeys,
      replayed,
      logBytes: offset,
      tornBytes: log.length - offset,
      index: this.state.index,
    };
  }

  /** Queues an effect; resolves once it is on disk. */
  append(effect: Effect): Promise<void> {
    this.pending.push(Buffer.from(`${JSON.stringify(effect)}\n`));
    const done = new Promise<void>((resolve, reject) => {
      this.waiters.push(resolve);
      this.failures.push(reject);
    });
    if (!this.flushing) this.flushing = this.flushLoop();
    this.lastFlush = done;
    return done;
  }

  /** Resolves once everything appended so far is on disk. */
  settled(): Promise<void> {
    return this.lastFlush.catch(() => undefined);
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = Buffer.concat(this.pending);
        const waiters = this.waiters;
        const failures = this.failures;
        this.pending = [];
        this.waiters = [];
        this.failures = [];
        try {
          if (this.failed !== undefined) throw this.failed;
          const handle = this.handle;
          if (!handle) throw new Error('log is closed');
          if (this.size + batch.length > this.compactBytes) {
            // The in-memory state already contains this batch: a snapshot covers it.
            await this.compact();
          } else {
            await this.appendAll(handle, batch);
            await handle.datasync();
            this.size += batch.length;
          }
          for (const resolve of waiters) resolve();
        } catch (error) {
          if (this.failed === undefined) {
            this.failed = error;
            await this.rollBack();
          }
          for (const reject of failures) reject(error);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /**
   * Writes the whole batch: `write(2)` may write only part of it (a nearly full disk) without
   * failing, and a partial batch must never be acknowledged.
   */
  private async appendAll(handle: FileHandle, batch: Buffer): Promise<void> {
    let done = 0;
    while (done < batch.length) {
      const { bytesWritten } = await handle.write(batch, done, batch.length - done);
      if (bytesWritten === 0) throw new Error('log write made no progress');
      done += bytesWritten;
    }
  }

  /**
   * After a failed write: cuts whatever part of the batch reached the file, then reloads memory from
   * the disk, so reads show only what is durable (the failed writes, and any queued behind them,
   * were never acknowledged). If the file cannot be cut, the next start drops the torn tail.
   */
  private async rollBack(): Promise<void> {
    const pending = this.failures;
    this.pending = [];
    this.waiters = [];
    this.failures = [];
    for (const reject of pending) reject(this.failed);
    try {
      await this.handle?.truncate(this.size);
    } catch {
      // leave it to the next start
    }
    try {
      this.state.reset();
      this.load();
    } catch (error) {
      this.rollBackError = error;
    }
  }

  private async compact(): Promise<void> {
    const tmp = `${this.snapshotPath}.tmp`;
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(encodeSnapshot(this.state.snapshot()));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, this.snapshotPath);
    syncDir(this.dir);
    const handle = this.handle;
    if (!handle) throw new Error('log is closed');
    await handle.truncate(0);
    await handle.sync();
    this.size = 0;
  }

  /** Compacts now (used on clean shutdown, so restarts replay little). */
  async checkpoint(): Promise<void> {
    await this.settled();
    if (this.size > 0) await this.compact();
  }

  async close(): Promise<void> {
    await this.settled();
    await this.handle?.close();
    this.handle = undefined;
  }
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KvServerError(KvServerErrorCodes.DATA_DIR, `cannot read ${path}`, { cause: error });
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
