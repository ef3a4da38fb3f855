/**
 * Durability: an append-only log of effects (one JSON line each) plus a snapshot.
 *
 * - A write is acknowledged only after its line is written and `fdatasync`ed (group commit: all
 *   effects that arrive while a sync runs share the next one).
 * - When the log grows past `compactBytes`, the whole state is written to `snapshot.json.tmp`,
 *   fsynced, renamed over `snapshot.json` (the directory is fsynced too), and the log is truncated.
 *   Replay skips log lines at or below the snapshot's index, so a crash between the two steps is safe.
 * - A torn last line (crash mid-append) was never acknowledged: replay drops it and truncates the file.
 */
import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { type FileHandle, mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { KvServerError, KvServerErrorCodes } from './errors.js';
import type { Effect, Snapshot, State } from './state.js';

/** @internal */
export class DurableLog {
  private handle: FileHandle | undefined;
  private size = 0;
  private pending: Buffer[] = [];
  private waiters: (() => void)[] = [];
  private failures: ((error: unknown) => void)[] = [];
  private flushing: Promise<void> | undefined;
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
  async open(): Promise<{ replayed: number }> {
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
    let snapshotIndex = 0;
    const snapshotText = readIfExists(this.snapshotPath);
    if (snapshotText !== undefined) {
      let snapshot: Snapshot;
      try {
        snapshot = JSON.parse(snapshotText) as Snapshot;
      } catch (cause) {
        throw new KvServerError(
          KvServerErrorCodes.DATA_CORRUPT,
          `snapshot ${this.snapshotPath} is not valid JSON`,
          { cause, hint: 'restore the data directory from a backup' },
        );
      }
      this.state.restore(snapshot);
      snapshotIndex = snapshot.index;
    }
    const logText = readIfExists(this.logPath) ?? '';
    let good = 0;
    let replayed = 0;
    let offset = 0;
    while (offset < logText.length) {
      const end = logText.indexOf('\n', offset);
      if (end === -1) break; // torn tail: never acknowledged
      const line = logText.slice(offset, end);
      let effect: Effect;
      try {
        effect = JSON.parse(line) as Effect;
      } catch (cause) {
        throw new KvServerError(
          KvServerErrorCodes.DATA_CORRUPT,
          `log ${this.logPath} has an unreadable record at byte ${Buffer.byteLength(logText.slice(0, offset))}`,
          {
            cause,
            hint: 'the file was changed by something other than p2-kv-server; restore from a backup',
          },
        );
      }
      if (effect.i > snapshotIndex || effect.reap !== undefined) {
        this.state.apply(effect);
        replayed++;
      }
      offset = end + 1;
      good = offset;
    }
    this.handle = await open(this.logPath, 'a+', 0o600);
    const goodBytes = Buffer.byteLength(logText.slice(0, good));
    if (goodBytes !== Buffer.byteLength(logText)) {
      await this.handle.truncate(goodBytes);
      await this.handle.sync();
    }
    this.size = goodBytes;
    return { replayed };
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
          const handle = this.handle;
          if (!handle) throw new Error('log is closed');
          if (this.size + batch.length > this.compactBytes) {
            // The in-memory state already contains this batch: a snapshot covers it.
            await this.compact();
          } else {
            await handle.write(batch);
            await handle.datasync();
            this.size += batch.length;
          }
          for (const resolve of waiters) resolve();
        } catch (error) {
          for (const reject of failures) reject(error);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async compact(): Promise<void> {
    const tmp = `${this.snapshotPath}.tmp`;
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(this.state.snapshot()));
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

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
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
