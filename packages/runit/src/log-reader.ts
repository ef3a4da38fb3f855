/**
 * Reading a service's svlogd log (`<service>/log/main/`: rotated `@<tai64n>.s`/`.u` files, oldest
 * first, then `current`), whose lines `svlogd -tt` stamps with a UTC time
 * (`2026-12-05_04:50:32.123456789 text`). The log directory belongs to the log user (`nobody`),
 * never to a pod's user; files are opened without following symlinks and must be regular files.
 */
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RunitError, RunitErrorCodes } from './errors.js';

/** One line of a service's log. */
export interface LogLine {
  /** svlogd's timestamp as an ISO 8601 time; undefined for a line without one. */
  time?: string;
  text: string;
}

const STAMP = /^(\d{4}-\d\d-\d\d)_(\d\d:\d\d:\d\d)(\.\d+)? (.*)$/s;

/**
 * Splits an `svlogd -tt` line into its time and text (a line without a stamp is all text).
 *
 * @example parseLogLine('2026-12-05_04:50:32.123456789 hello') // { time: '2026-12-05T04:50:32.123Z', text: 'hello' }
 */
export function parseLogLine(line: string): LogLine {
  const m = STAMP.exec(line);
  if (!m) return { text: line };
  const fraction = (m[3] ?? '.0').slice(0, 4).padEnd(4, '0');
  return { time: `${m[1]}T${m[2]}${fraction}Z`, text: m[4] ?? '' };
}

/** `<service dir>/log/main`: where svlogd writes. */
export function serviceLogDir(serviceDir: string): string {
  return join(serviceDir, 'log', 'main');
}

async function openLog(path: string): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Missing, or a symlink (never followed): not a log file.
    if (code === 'ENOENT' || code === 'ELOOP') return undefined;
    if (code === 'EACCES' || code === 'EPERM')
      throw new RunitError(RunitErrorCodes.LOG_PERMISSION_DENIED, `cannot read the log ${path}`, {
        hint: 'service logs are readable by root only: run as root (sudo)',
        details: { path },
        cause: error,
      });
    throw new RunitError(RunitErrorCodes.LOG_UNREADABLE, `cannot open the log ${path}`, {
      details: { path },
      cause: error,
    });
  }
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    return undefined;
  }
  return handle;
}

function toLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(parseLogLine);
}

/**
 * Every line of a service's log, oldest first (rotated files, then `current`); with `since`, the
 * stamped lines at or after it only. A missing log directory is an empty log.
 *
 * @throws RunitError `P2_RUNIT_LOG_PERMISSION_DENIED` when not allowed to read it (not root)
 */
export async function readServiceLog(
  serviceDir: string,
  options: { since?: Date } = {},
): Promise<LogLine[]> {
  const dir = serviceLogDir(serviceDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    if (code === 'EACCES' || code === 'EPERM') await openLog(join(dir, 'current')); // throws the hint
    throw error;
  }
  const files = [...names.filter((n) => /^@[0-9a-f]{24}\.[su]$/.test(n)).sort(), 'current'];
  const since = options.since?.toISOString();
  const lines: LogLine[] = [];
  for (const name of files) {
    const handle = await openLog(join(dir, name));
    if (!handle) continue;
    try {
      for (const line of toLines(await handle.readFile('utf8')))
        if (!since || (line.time !== undefined && line.time >= since)) lines.push(line);
    } finally {
      await handle.close();
    }
  }
  return lines;
}

/**
 * Follows a service's `current` log from its end (as `tail -F`): yields each new line, through
 * svlogd's rotations (the rest of the rotated file is read first), until `signal` aborts.
 */
export async function* followServiceLog(
  serviceDir: string,
  options: { signal: AbortSignal; pollMs?: number },
): AsyncGenerator<LogLine> {
  const path = join(serviceLogDir(serviceDir), 'current');
  const pollMs = options.pollMs ?? 200;
  let handle = await openLog(path);
  let offset = handle ? (await handle.stat()).size : 0;
  let partial = '';
  const wait = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      options.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  try {
    while (!options.signal.aborted) {
      if (handle) {
        const { size, ino } = await handle.stat();
        if (size > offset) {
          const buffer = Buffer.alloc(size - offset);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          offset += bytesRead;
          const text = partial + buffer.subarray(0, bytesRead).toString('utf8');
          const end = text.lastIndexOf('\n');
          partial = text.slice(end + 1);
          for (const line of toLines(text.slice(0, end + 1))) yield line;
          continue;
        }
        const now = await lstat(path).catch(() => undefined);
        if (now && now.ino !== ino) {
          await handle.close(); // rotated: its rest was read above; `current` is a new file
          handle = undefined;
        }
      }
      if (!handle) {
        handle = await openLog(path);
        offset = 0;
        partial = '';
        if (handle) continue;
      }
      await wait();
    }
  } finally {
    await handle?.close();
  }
}
