/**
 * Runs one program the way the preparer needs it run: in its own process group, output captured up
 * to a limit, and on timeout (or abort) SIGTERM to the whole group, then SIGKILL after a grace
 * period — so nothing it started outlives it. Used for hooks and for launchables' scripts.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  args?: string[];
  cwd: string;
  /** The whole environment of the process (nothing is inherited). */
  env: Record<string, string>;
  timeoutMs: number;
  /** Time between SIGTERM and SIGKILL once the timeout expired. */
  killGraceMs: number;
  /** Output kept (stdout and stderr interleaved); the rest is counted in `outputDroppedBytes`. */
  outputLimitBytes: number;
  /** Aborting terminates the process group like a timeout (without marking it timed out). */
  signal?: AbortSignal;
}

/** What {@link runProcess} observed. */
export interface ProcessOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The abort signal fired while it ran. */
  cancelled: boolean;
  /** Set when the program could not be started at all. */
  spawnError?: Error;
  output: string;
  outputDroppedBytes: number;
  durationMs: number;
}

/**
 * True while the process group has a member that is not a zombie. Killed members linger as zombies
 * until their new parent reaps them (PID 1 may do that only every second or so); they hold nothing.
 */
function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false; // ESRCH: no member at all
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true; // no procfs: trust kill(0)
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

/** How long to wait for pipes to close after the process exited (a leftover child may hold them). */
const PIPE_DRAIN_MS = 200;
/** How long after SIGKILL to wait for the group to disappear before reporting anyway. */
const ZOMBIE_WAIT_MS = 1_000;

/**
 * Runs `command` to completion (never rejects: failures are in the outcome).
 *
 * @example
 * ```ts
 * const r = await runProcess('/bin/sh', { args: ['-c', 'echo hi'], cwd: '/', env: { PATH: '/usr/bin:/bin' }, timeoutMs: 5000, killGraceMs: 1000, outputLimitBytes: 65536 });
 * // { exitCode: 0, output: 'hi\n', timedOut: false, … }
 * ```
 */
export function runProcess(command: string, o: RunProcessOptions): Promise<ProcessOutcome> {
  const started = performance.now();
  const chunks: Buffer[] = [];
  let kept = 0;
  let dropped = 0;
  const collect = (chunk: Buffer) => {
    const room = o.outputLimitBytes - kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      chunks.push(part);
      kept += part.length;
    }
    dropped += Math.max(0, chunk.length - Math.max(room, 0));
  };

  return new Promise<ProcessOutcome>((resolve) => {
    // detached: the process leads a new process group, so a timeout can kill its children too.
    const child = spawn(command, o.args ?? [], {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let timedOut = false;
    let spawnError: Error | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    let settled = false;
    let killedAt: number | undefined;
    const pgid = child.pid;

    const killGroup = (sig: NodeJS.Signals) => {
      if (pgid === undefined) return;
      try {
        process.kill(-pgid, sig);
      } catch {
        // ESRCH: the whole group is gone already.
      }
    };
    const groupAlive = () => pgid !== undefined && processGroupAlive(pgid);

    const terminate = () => {
      killGroup('SIGTERM');
      const deadline = Date.now() + o.killGraceMs;
      const poll = () => {
        if (!groupAlive()) return;
        if (Date.now() >= deadline) {
          killGroup('SIGKILL');
          killedAt = Date.now();
          return;
        }
        setTimeout(poll, Math.min(50, o.killGraceMs));
      };
      poll();
    };

    const timer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, o.timeoutMs);
    const onAbort = () => terminate();
    o.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', collect);
    child.stderr.on('data', collect);

    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      o.signal?.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      const { code, signal } = exit ?? { code: null, signal: null };
      resolve({
        exitCode: code,
        signal,
        timedOut,
        cancelled: o.signal?.aborted === true,
        ...(spawnError === undefined ? {} : { spawnError }),
        output: Buffer.concat(chunks).toString('utf8'),
        outputDroppedBytes: dropped,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      });
    };

    child.on('error', (error) => {
      spawnError = error;
      settle();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      if (timedOut) {
        // Wait for the group to be gone (SIGKILL follows the grace period), then report.
        // Bounded: killed members that nobody reaps yet (zombies) still count as group members.
        const waitGroup = () => {
          const reapWaitOver = killedAt !== undefined && Date.now() - killedAt > ZOMBIE_WAIT_MS;
          if (!groupAlive() || settled || reapWaitOver) return settle();
          drainTimer = setTimeout(waitGroup, 25);
        };
        waitGroup();
        return;
      }
      // Children left behind may keep our pipes open: do not wait for them forever.
      drainTimer = setTimeout(settle, PIPE_DRAIN_MS);
    });
    child.on('close', () => {
      if (exit !== undefined && (!timedOut || !groupAlive())) settle();
    });
  });
}
