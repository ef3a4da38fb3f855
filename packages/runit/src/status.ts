import { constants, existsSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { RunitError, RunitErrorCodes } from './errors.js';
import { EXIT_LOG_FILE, LAST_EXIT_FILE } from './scripts.js';

/** runsv's view of one process (the service or its log). */
export interface ProcessStatus {
  /** `run`: process running; `finish`: ./finish running; `down`: nothing running. */
  state: 'down' | 'run' | 'finish';
  /** Pid of the running process (of ./finish in state `finish`); undefined when down. */
  pid: number | undefined;
  /** When the current state began. */
  since: Date;
  /** What runsv tries to keep: `up` (restart on exit) or `down`. */
  want: 'up' | 'down';
  /** Stopped with `sv pause`. */
  paused: boolean;
  /** A TERM was sent and the process has not exited yet. */
  termSent: boolean;
}

/** One recorded exit of a service's process (written by the generated `finish` script). */
export interface ExitRecord {
  service: string;
  /** From the spec's `identity`, when it had one. */
  podId?: string;
  podUniqueKey?: string;
  launchableId?: string;
  entryPoint?: string;
  /** ISO 8601 time of the exit. */
  time: string;
  /** Exit code, or null when the process was killed by a signal. */
  exitCode: number | null;
  /** Signal number that killed the process, or null when it exited. */
  signal: number | null;
  /** Low byte of the wait status as runsv passed it. */
  waitStatus: number;
}

/** Status of a service as read from its `supervise/` directory. */
export interface ServiceStatus extends ProcessStatus {
  /** False when no runsv holds the service (then the other fields are the last ones runsv wrote). */
  supervised: boolean;
  /** False when a `down` file exists (the service does not start when runsv starts). */
  normallyUp: boolean;
  /** The last exit of the process, if any was recorded. */
  lastExit: ExitRecord | undefined;
  /** The log service, when the service has one and runsv has written its status. */
  log: ProcessStatus | undefined;
}

/** TAI64 label of the Unix epoch as runit computes it (2^62 + 10). */
const TAI_EPOCH = 4611686018427387914n;

/**
 * Decodes runsv's 20-byte `supervise/status`: TAI64N timestamp (12 bytes, big-endian), pid (4
 * bytes, little-endian), paused flag, wanted state (`u`/`d`), TERM-sent flag, state (0 down, 1 run,
 * 2 finish).
 *
 * @throws {RunitError} `P2_RUNIT_BAD_STATUS`
 * @example parseStatus(await readFile('/var/service/x/supervise/status')).state // 'run'
 */
export function parseStatus(buffer: Uint8Array, source = 'supervise/status'): ProcessStatus {
  if (buffer.length !== 20)
    throw new RunitError(
      RunitErrorCodes.BAD_STATUS,
      `${source} has ${buffer.length} bytes, expected runsv's 20`,
      {
        hint: 'is the service supervised by runit 2.x runsv?',
      },
    );
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const seconds = view.getBigUint64(0) - TAI_EPOCH;
  const nanos = view.getUint32(8);
  const pid = view.getUint32(12, true);
  const stateByte = buffer[19];
  const state = stateByte === 1 ? 'run' : stateByte === 2 ? 'finish' : 'down';
  return {
    state,
    pid: pid === 0 ? undefined : pid,
    since: new Date(Number(seconds) * 1000 + Math.floor(nanos / 1e6)),
    want: buffer[17] === 0x75 ? 'up' : 'down',
    paused: buffer[16] !== 0,
    termSent: buffer[18] !== 0,
  };
}

/**
 * True when a runsv supervises `dir`: opening `supervise/ok` for writing succeeds only while runsv
 * has it open for reading (this is how `sv` tells "runsv not running").
 *
 * @example await isSupervised('/var/service/hello__app__launch') // true
 */
export async function isSupervised(dir: string): Promise<boolean> {
  try {
    const handle = await open(
      join(dir, 'supervise', 'ok'),
      constants.O_WRONLY | constants.O_NONBLOCK,
    );
    await handle.close();
    return true;
  } catch {
    return false;
  }
}

async function readProcessStatus(dir: string): Promise<ProcessStatus | undefined> {
  let buffer: Buffer;
  try {
    buffer = await readFile(join(dir, 'supervise', 'status'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RunitError(
      RunitErrorCodes.BAD_STATUS,
      `cannot read ${dir}/supervise/status: ${describeError(error)}`,
      { cause: error },
    );
  }
  return parseStatus(buffer, `${dir}/supervise/status`);
}

/**
 * Reads the last exit recorded by the generated finish script.
 *
 * @example await readLastExit(dir) // { exitCode: null, signal: 9, … } after an OOM kill
 */
export async function readLastExit(dir: string): Promise<ExitRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, LAST_EXIT_FILE), 'utf8')) as ExitRecord;
  } catch {
    return undefined;
  }
}

/**
 * Reads every exit recorded in `exits.jsonl` (and its rotated predecessor `exits.jsonl.1`), oldest
 * first. Lines that are not valid records (e.g. cut by a crash mid-write) are skipped.
 *
 * @example (await readExitLog(dir)).map((e) => e.exitCode) // [3, 3, 3]
 */
export async function readExitLog(dir: string): Promise<ExitRecord[]> {
  const records: ExitRecord[] = [];
  for (const file of [`${EXIT_LOG_FILE}.1`, EXIT_LOG_FILE]) {
    const text = await readFile(join(dir, file), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        records.push(JSON.parse(line) as ExitRecord);
      } catch {
        // partial line
      }
    }
  }
  return records;
}

/**
 * Reads a service's status directly from `supervise/status` (no `sv` process), plus its last
 * recorded exit and its log service's status.
 *
 * @throws {RunitError} `P2_RUNIT_NOT_FOUND` (no service dir), `P2_RUNIT_NOT_SUPERVISED` (runsv never ran
 * there), `P2_RUNIT_BAD_STATUS`
 * @example const { state, pid, lastExit } = await readStatus('/var/service/hello__app__launch');
 */
export async function readStatus(dir: string): Promise<ServiceStatus> {
  if (!existsSync(dir))
    throw new RunitError(RunitErrorCodes.NOT_FOUND, `service directory ${dir} does not exist`, {
      details: { dir },
    });
  const main = await readProcessStatus(dir);
  if (main === undefined)
    throw new RunitError(
      RunitErrorCodes.NOT_SUPERVISED,
      `${dir} has no supervise/status: runsv never supervised it`,
      {
        hint: 'start a runsvdir on the service root (RunsvDir.start) or wait for it to pick the directory up',
        details: { dir },
      },
    );
  const log = existsSync(join(dir, 'log')) ? await readProcessStatus(join(dir, 'log')) : undefined;
  return {
    ...main,
    supervised: await isSupervised(dir),
    normallyUp: !existsSync(join(dir, 'down')),
    lastExit: await readLastExit(dir),
    log,
  };
}
