/**
 * The log bridge (P2's p2-log-bridge): a service's output, read from its log pipe, goes durably to
 * a log command and lossily, rate-limited, to a second destination.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogsError, LogsErrorCode } from './errors.js';
import {
  LineSplitter,
  LossyCopy,
  type LossyDestination,
  type LossyLimits,
  type LossyReport,
  resolveLimits,
} from './lossy.js';

/** Where the bridge reports trouble (a pino logger fits). */
export interface BridgeLogger {
  warn(obj: object, msg: string): void;
}

/** Options of {@link runLogBridge}. */
export interface LogBridgeOptions {
  /** The log command (argv) that gets every byte of the input, e.g. `['svlogd', '-tt', './main']`. */
  exec: string[];
  /** The service's output. @default process.stdin */
  input?: Readable;
  /** Where the lossy copy goes. @default { type: 'none' } (P2's bridge sent it to /dev/null) */
  lossy?: LossyDestination;
  /** Limits of the lossy copy. */
  limits?: LossyLimits;
  /** `json`: one object per line with the service's identity (see `env`); `raw`: the line. @default 'json' */
  format?: 'raw' | 'json';
  /**
   * Environment of the log command, and where the identity of the lossy JSON records comes from
   * (`POD_ID`, `POD_UNIQUE_KEY`, `LAUNCHABLE_ID`, `ENTRY_POINT`, `P2_SERVICE`, `P2_NODE`: what
   * p2's `log/run` gives a log command). @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /** Pause before the log command is started again after it exited. @default 1000 */
  restartDelayMs?: number;
  /** Stops the bridge: what it has read is written, `input` is closed, then the log command's input. */
  signal?: AbortSignal;
  /** The stream `stdout` means. @default process.stdout */
  stdout?: Writable;
  logger?: BridgeLogger;
}

/** What a bridge did, returned when its input ended or it was stopped. */
export interface LogBridgeReport {
  /** Bytes read and written to the log command. */
  bytes: number;
  /** Times the log command was started again after it exited. */
  restarts: number;
  /** The log command's last exit code (null: killed by a signal). */
  exitCode: number | null;
  lossy: LossyReport;
}

/** Identity fields of the lossy JSON records, from the log command's environment. */
const CONTEXT: Readonly<Record<string, string>> = {
  POD_ID: 'pod_id',
  POD_UNIQUE_KEY: 'pod_unique_key',
  LAUNCHABLE_ID: 'launchable_id',
  ENTRY_POINT: 'entry_point',
  P2_SERVICE: 'service',
  P2_NODE: 'node',
};

const quiet: BridgeLogger = { warn() {} };

/**
 * The log command, kept running: a write goes to the live process, and a process that exits is
 * started again after `restartDelayMs`; a write it did not take is written again to the next one.
 */
class DurableCopy {
  #child: ChildProcess | undefined;
  #alive: Promise<ChildProcess> | undefined;
  #exitCode: number | null = 0;
  #ending = false;
  restarts = 0;

  constructor(
    private readonly exec: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly restartDelayMs: number,
    private readonly logger: BridgeLogger,
  ) {}

  /** Starts the log command (as svlogd would run from the start, before any output). */
  async start(): Promise<void> {
    await this.#running();
  }

  /** Resolves once the log command has taken all of `chunk` into its pipe. */
  async write(chunk: Buffer): Promise<void> {
    for (;;) {
      const child = await this.#running();
      const written = await new Promise<boolean>((resolve) =>
        child.stdin?.write(chunk, (error) => resolve(!error)),
      );
      if (written) return;
      // The command went away with the chunk (or part of it) unwritten: again, to the next one.
      await this.#exited(child);
    }
  }

  /** Closes the log command's input and waits for it to exit. */
  async end(): Promise<number | null> {
    this.#ending = true;
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      await this.#exited(child);
    }
    return this.#exitCode;
  }

  #running(): Promise<ChildProcess> {
    this.#alive ??= this.#start();
    return this.#alive;
  }

  async #start(): Promise<ChildProcess> {
    for (let attempt = 0; ; attempt++) {
      if (this.#child !== undefined || attempt > 0) {
        this.restarts++;
        await sleep(this.restartDelayMs);
      }
      // Its output is not the lossy copy's: both go to the bridge's stderr.
      const child = spawn(this.exec[0] as string, this.exec.slice(1), {
        stdio: ['pipe', 2, 2],
        env: this.env,
      });
      this.#child = child;
      child.stdin?.on('error', () => {});
      const exit = () => {
        this.#exitCode = child.exitCode;
        if (this.#child === child) this.#alive = undefined;
        if (!this.#ending)
          this.logger.warn(
            { exitCode: child.exitCode, signal: child.signalCode },
            'log command exited; it is started again with the next output',
          );
      };
      const started = await new Promise<boolean>((resolve) => {
        child.once('spawn', () => resolve(true));
        child.on('error', () => resolve(false));
      });
      if (started) {
        child.once('exit', exit);
        return child;
      }
      this.logger.warn({ command: this.exec[0] }, 'log command could not be started');
      this.#exitCode = null;
    }
  }

  async #exited(child: ChildProcess): Promise<void> {
    if (child.exitCode === null && child.signalCode === null)
      await new Promise((resolve) => child.once('exit', resolve));
    if (this.#child === child) this.#alive = undefined;
  }
}

/** At most this much is read before it is written: what a pipe holds. */
const CHUNK_BYTES = 65_536;

/** The next chunk of `input` (at most {@link CHUNK_BYTES}), or null when none is buffered. */
function next(input: Readable): Buffer | null {
  const buffered = input.readableLength;
  return (buffered > CHUNK_BYTES ? input.read(CHUNK_BYTES) : input.read()) as Buffer | null;
}

/** Waits until `input` has data, ended or failed, or `signal` is aborted. */
function readable(input: Readable, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      input.off('readable', done);
      input.off('end', done);
      input.off('error', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    input.once('readable', done);
    input.once('end', done);
    input.once('error', done);
    signal?.addEventListener('abort', done);
  });
}

/**
 * Runs a log bridge until its input ends or `signal` stops it. Every byte read goes to the log
 * command (`exec`), with backpressure: the bridge reads only as fast as the command takes, so a
 * slow command slows the service (as svlogd would), and nothing is dropped. A command that exits
 * is started again after `restartDelayMs`; what the bridge read and the old command did not take
 * goes to the new one, so the only output at risk is what the dead command had in its own pipe
 * (at most a pipe's 64 KiB) — as with any runit log service. At the same time each line is offered
 * to the lossy copy, which never waits: it sends at most `linesPerSecond` and `bytesPerSecond`,
 * keeps `bufferLines` queued, and drops (and counts) the rest.
 *
 * @throws LogsError `P2_LOGS_INVALID_OPTIONS` for an empty `exec` or bad limits
 * @example
 * ```ts
 * // log/run: exec chpst -u nobody p2-log-bridge --lossy-to unix:/run/vector/p2.sock -- svlogd -tt ./main
 * const report = await runLogBridge({ exec: ['svlogd', '-tt', './main'], lossy: { type: 'unix', path: '/run/vector/p2.sock' } });
 * // { bytes: 18230, restarts: 0, exitCode: 0, lossy: { sent: 120, dropped: 0, truncated: 0 } }
 * ```
 */
export async function runLogBridge(options: LogBridgeOptions): Promise<LogBridgeReport> {
  if (options.exec.length === 0 || options.exec[0] === '')
    throw new LogsError(LogsErrorCode.INVALID_OPTIONS, 'the log bridge needs a log command', {
      hint: 'give the command after --, e.g. p2 log-bridge -- svlogd -tt ./main',
      details: { option: 'exec' },
    });
  const limits = resolveLimits(options.limits);
  const restartDelayMs = options.restartDelayMs ?? 1000;
  if (!Number.isInteger(restartDelayMs) || restartDelayMs < 0)
    throw new LogsError(
      LogsErrorCode.INVALID_OPTIONS,
      `restartDelayMs must be an integer >= 0, found ${JSON.stringify(restartDelayMs)}`,
      { details: { option: 'restartDelayMs' } },
    );
  const env = options.env ?? process.env;
  const logger = options.logger ?? quiet;
  const context: Record<string, string> = {};
  for (const [variable, field] of Object.entries(CONTEXT)) {
    const value = env[variable];
    if (value) context[field] = value;
  }
  const lossy = new LossyCopy({
    destination: options.lossy ?? { type: 'none' },
    limits,
    format: options.format ?? 'json',
    context,
    stdout: options.stdout ?? process.stdout,
  });
  const lines = new LineSplitter(limits.maxLineBytes, (line, truncated) =>
    lossy.push(line, truncated),
  );
  const durable = new DurableCopy(options.exec, env, restartDelayMs, logger);
  const input = options.input ?? process.stdin;
  const { signal } = options;
  let bytes = 0;
  let ended = false;
  input.once('end', () => {
    ended = true;
  });
  input.on('error', () => {
    ended = true;
  });
  const copy = async (chunk: Buffer) => {
    lines.push(chunk);
    await durable.write(chunk);
    bytes += chunk.length;
  };
  await durable.start();
  while (!ended && !input.readableEnded && !input.destroyed && !signal?.aborted) {
    const chunk = next(input);
    if (chunk === null) await readable(input, signal);
    else await copy(chunk);
  }
  // Stopped: what was read ahead is written too, and no more is read (the rest stays in the
  // pipe for the next bridge); only then is the command's input closed.
  if (signal?.aborted) {
    for (let chunk = next(input); chunk !== null; chunk = next(input)) await copy(chunk);
    input.destroy();
  }
  lines.end();
  const exitCode = await durable.end();
  return { bytes, restarts: durable.restarts, exitCode, lossy: lossy.close() };
}
