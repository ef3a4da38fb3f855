import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RunitError, RunitErrorCodes } from './errors.js';
import { SPEC_FILE } from './scripts.js';
import { isSupervised, type ProcessStatus, parseStatus } from './status.js';

/** Options of the control functions. */
export interface ControlOptions {
  /** How long to wait for the wanted state; 0 = send the command and return. @default the service's restart timeout, else 7000 */
  timeoutMs?: number;
  /** Control the service's `log/` service instead. @default false */
  log?: boolean;
}

/** Outcome of a command that waited. */
export interface ControlResult {
  /** Status after the command. */
  status: ProcessStatus;
  /** True when a stop had to escalate to SIGKILL (P2 treated such "killed" outcomes as fine). */
  killed: boolean;
}

const POLL_MS = 5;
async function send(dir: string, commands: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // Opening the FIFO without blocking fails with ENXIO when no runsv reads it.
    handle = await open(
      join(dir, 'supervise', 'control'),
      constants.O_WRONLY | constants.O_NONBLOCK,
    );
  } catch (error) {
    throw new RunitError(
      RunitErrorCodes.NOT_SUPERVISED,
      `cannot control ${dir}: runsv not running (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        cause: error,
        hint: 'is a runsvdir running on the service root? RunsvDir.install() starts supervision at once',
        details: { dir },
      },
    );
  }
  try {
    await handle.write(commands);
  } finally {
    await handle.close();
  }
}

async function current(dir: string): Promise<ProcessStatus> {
  return parseStatus(await readFile(join(dir, 'supervise', 'status')), `${dir}/supervise/status`);
}

async function defaultTimeout(serviceDir: string): Promise<number> {
  try {
    const spec = JSON.parse(await readFile(join(serviceDir, SPEC_FILE), 'utf8')) as {
      restartTimeoutMs?: number;
    };
    if (typeof spec.restartTimeoutMs === 'number') return spec.restartTimeoutMs;
  } catch {
    // not written by p2: sv's default
  }
  return 7000;
}

async function waitFor(
  dir: string,
  what: string,
  timeoutMs: number,
  done: (s: ProcessStatus) => boolean,
): Promise<ProcessStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await current(dir);
    if (done(status)) return status;
    if (Date.now() >= deadline)
      throw new RunitError(
        RunitErrorCodes.TIMEOUT,
        `${dir} did not ${what} within ${timeoutMs} ms (state ${status.state}, want ${status.want})`,
        {
          details: { dir, state: status.state, pid: status.pid, timeoutMs },
        },
      );
    await sleep(POLL_MS);
  }
}

async function target(
  serviceDir: string,
  options: ControlOptions,
): Promise<{ dir: string; timeoutMs: number }> {
  const dir = options.log ? join(serviceDir, 'log') : serviceDir;
  return { dir, timeoutMs: options.timeoutMs ?? (await defaultTimeout(serviceDir)) };
}

/**
 * Waits until runsv supervises `serviceDir` (P2 polled for `supervise/` before every sv call).
 *
 * @throws {RunitError} `P2_RUNIT_NOT_SUPERVISED` after `timeoutMs`
 * @example await waitSupervised('/var/service/x', 1000);
 */
export async function waitSupervised(serviceDir: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isSupervised(serviceDir))) {
    if (Date.now() >= deadline)
      throw new RunitError(
        RunitErrorCodes.NOT_SUPERVISED,
        `timed out after ${timeoutMs} ms waiting for runsv to supervise ${serviceDir}`,
        {
          hint: 'runsvdir scans its directory every few seconds; is one running on this root?',
        },
      );
    await sleep(POLL_MS * 2);
  }
}

/**
 * `sv up`: wants the service up and waits until its process runs.
 *
 * @throws {RunitError} `P2_RUNIT_NOT_SUPERVISED`, `P2_RUNIT_TIMEOUT`
 * @example await up('/var/service/hello__app__launch');
 */
export async function up(serviceDir: string, options: ControlOptions = {}): Promise<ControlResult> {
  const { dir, timeoutMs } = await target(serviceDir, options);
  await send(dir, 'u');
  if (timeoutMs === 0) return { status: await current(dir), killed: false };
  return {
    status: await waitFor(
      dir,
      'come up',
      timeoutMs,
      (s) => s.state === 'run' && s.pid !== undefined,
    ),
    killed: false,
  };
}

/**
 * `sv once`: starts the process once; runsv will not restart it (restart policy `never`).
 *
 * @throws {RunitError} `P2_RUNIT_NOT_SUPERVISED`, `P2_RUNIT_TIMEOUT`
 * @example await once('/var/service/batch__job__launch');
 */
export async function once(
  serviceDir: string,
  options: ControlOptions = {},
): Promise<ControlResult> {
  const { dir, timeoutMs } = await target(serviceDir, options);
  const before = await current(dir);
  await send(dir, 'o');
  if (timeoutMs === 0) return { status: await current(dir), killed: false };
  // A short-lived process may already be gone: any new start counts.
  const status = await waitFor(
    dir,
    'start',
    timeoutMs,
    (s) => s.since.getTime() !== before.since.getTime() || s.state === 'run',
  );
  return { status, killed: false };
}

/**
 * `sv down` (`force-stop` when `force`): TERM + CONT, wait until down; on timeout with `force`,
 * SIGKILL and report `killed`.
 *
 * @throws {RunitError} `P2_RUNIT_NOT_SUPERVISED`, `P2_RUNIT_TIMEOUT`
 * @example await down('/var/service/hello__app__launch', { timeoutMs: 5000, force: true });
 */
export async function down(
  serviceDir: string,
  options: ControlOptions & { force?: boolean } = {},
): Promise<ControlResult> {
  const { dir, timeoutMs } = await target(serviceDir, options);
  await send(dir, 'd');
  if (timeoutMs === 0) return { status: await current(dir), killed: false };
  const isDown = (s: ProcessStatus) => s.state === 'down';
  try {
    return { status: await waitFor(dir, 'stop', timeoutMs, isDown), killed: false };
  } catch (error) {
    if (!options.force) throw error;
    await send(dir, 'k');
    return { status: await waitFor(dir, 'stop after SIGKILL', 5000, isDown), killed: true };
  }
}

/**
 * `sv restart` (`force-restart` when `force`): TERM, CONT, up; waits for a new process.
 *
 * @throws {RunitError} `P2_RUNIT_NOT_SUPERVISED`, `P2_RUNIT_TIMEOUT`
 * @example await restart('/var/service/hello__app__launch', { force: true });
 */
export async function restart(
  serviceDir: string,
  options: ControlOptions & { force?: boolean } = {},
): Promise<ControlResult> {
  const { dir, timeoutMs } = await target(serviceDir, options);
  const before = await current(dir);
  await send(dir, 'tcu');
  if (timeoutMs === 0) return { status: await current(dir), killed: false };
  const restarted = (s: ProcessStatus) =>
    s.state === 'run' && s.pid !== undefined && (s.pid !== before.pid || before.state !== 'run');
  try {
    return { status: await waitFor(dir, 'restart', timeoutMs, restarted), killed: false };
  } catch (error) {
    if (!options.force) throw error;
    await send(dir, 'k');
    return { status: await waitFor(dir, 'restart after SIGKILL', 5000, restarted), killed: true };
  }
}

/** Signals runsv can send to the process. */
export type ServiceSignal =
  | 'term'
  | 'kill'
  | 'hup'
  | 'int'
  | 'quit'
  | 'usr1'
  | 'usr2'
  | 'alarm'
  | 'cont'
  | 'pause';
const SIGNAL_COMMANDS: Record<ServiceSignal, string> = {
  term: 't',
  kill: 'k',
  hup: 'h',
  int: 'i',
  quit: 'q',
  usr1: '1',
  usr2: '2',
  alarm: 'a',
  cont: 'c',
  pause: 'p',
};

/**
 * Sends a signal to the service's process through runsv (`sv term`, `sv kill`, …). Does not wait.
 *
 * @throws {RunitError} `P2_RUNIT_NOT_SUPERVISED`
 * @example await signal(dir, 'hup');
 */
export async function signal(
  serviceDir: string,
  which: ServiceSignal,
  options: Pick<ControlOptions, 'log'> = {},
): Promise<void> {
  await send(options.log ? join(serviceDir, 'log') : serviceDir, SIGNAL_COMMANDS[which]);
}

/**
 * `sv exit` for the service and its log: stops both and makes their runsv exit; waits until runsv
 * is gone. An unsupervised service is left as is.
 *
 * @throws {RunitError} `P2_RUNIT_TIMEOUT`
 * @example await exit('/var/service/hello__app__launch');
 */
export async function exit(
  serviceDir: string,
  options: Pick<ControlOptions, 'timeoutMs'> & { force?: boolean } = {},
): Promise<void> {
  if (!(await isSupervised(serviceDir))) return;
  const timeoutMs = options.timeoutMs ?? (await defaultTimeout(serviceDir));
  await down(serviceDir, { timeoutMs, force: options.force ?? true }).catch((error: unknown) => {
    if (!(error instanceof RunitError && error.code === RunitErrorCodes.NOT_SUPERVISED))
      throw error;
  });
  await send(serviceDir, 'x').catch(() => undefined);
  // runsv stops the log service after the main one and then exits.
  await send(join(serviceDir, 'log'), 'x').catch(() => undefined);
  const deadline = Date.now() + Math.max(timeoutMs, 5000);
  while (await isSupervised(serviceDir)) {
    if (Date.now() >= deadline)
      throw new RunitError(
        RunitErrorCodes.TIMEOUT,
        `runsv of ${serviceDir} did not exit within ${Math.max(timeoutMs, 5000)} ms`,
      );
    await sleep(POLL_MS * 2);
  }
}
