/**
 * The simulated fleet split over child processes: `procs` processes each run a slice of the hosts
 * (bench/src/fleet-worker.ts, a `SimFleet`), so that thousands of store clients are not limited by
 * one Node thread or one process's open-file limit — a real fleet runs one agent per machine. The
 * parent sees what an in-process fleet shows: each host's events (their times are absolute, so
 * comparable across processes) and the requests made, merged.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type CounterDelta, type FleetEvents, RequestCounter } from './fleet.js';

/** A command to a fleet process; each is answered by an `ack` of its id. */
export type FromParent = { id: number } & (
  | { type: 'start'; storeUrl: string; first: number; count: number }
  | { type: 'expect'; sha: string }
  | { type: 'flush' }
  | { type: 'loop-delay'; window: 'trace' | 'figure' }
  | { type: 'stop' }
);

/** What a fleet process sends: events (absolute times) and request counts, and answers. */
export type ToParent =
  | { type: 'events'; running: [string, number][]; woke: [string, number][]; counts?: CounterDelta }
  | { type: 'loop-delay'; p99Ms: number; maxMs: number }
  | { type: 'ack'; id: number; error?: string };

type Command = FromParent extends infer C
  ? C extends { id: number }
    ? Omit<C, 'id'>
    : never
  : never;

const workerPath = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));

/** The hosts' names, as `SimFleet` gives them. */
const nodeName = (i: number) => `p2t-fleet-${String(i).padStart(5, '0')}`;

class FleetProcess {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, { resolve(): void; reject(e: Error): void }>();
  private nextId = 1;
  readonly exited: Promise<void>;

  /** The last event-loop delay the process reported. */
  loopDelay = { p99Ms: 0, maxMs: 0 };

  constructor(onEvents: (m: Extract<ToParent, { type: 'events' }>) => void) {
    // The tsx loader this process runs under (process.execArgv) is the child's too; with
    // --profile-fleet each fleet process writes a CPU profile when it stops.
    const profile = process.argv.includes('--profile-fleet')
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${process.env.P2_BENCH_PROFILE_DIR ?? '/tmp/p2t-fleet-prof'}`,
        ]
      : [];
    this.child = fork(workerPath, [], {
      serialization: 'advanced',
      stdio: 'inherit',
      execArgv: [...process.execArgv, ...profile],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.on('message', (message: ToParent) => {
      if (message.type === 'events') onEvents(message);
      else if (message.type === 'loop-delay') this.loopDelay = message;
      else {
        const w = this.waiting.get(message.id);
        this.waiting.delete(message.id);
        if (message.error) w?.reject(new Error(`fleet process: ${message.error}`));
        else w?.resolve();
      }
    });
    this.child.once('exit', (code, signal) => {
      for (const w of this.waiting.values())
        w.reject(new Error(`a fleet process exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  call(command: Command): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ ...command, id });
    });
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** N simulated hosts over `procs` child processes, seen from here as one fleet. */
export class ProcessFleet {
  readonly nodes: { node: string }[] = [];
  readonly requests = new RequestCounter();
  readonly events: FleetEvents = { running: new Map(), woke: new Map() };
  private readonly processes: FleetProcess[] = [];

  constructor(
    private readonly storeUrl: string,
    private readonly procs: number,
  ) {}

  /** Starts `count` hosts, split evenly over the processes. */
  async start(count: number): Promise<void> {
    const origin = performance.timeOrigin;
    const onEvents = (m: Extract<ToParent, { type: 'events' }>) => {
      for (const [node, at] of m.running) this.events.running.set(node, at - origin);
      for (const [node, at] of m.woke) this.events.woke.set(node, at - origin);
      if (m.counts) this.requests.merge(m.counts);
    };
    const procs = Math.max(1, Math.min(this.procs, count));
    const starts: Promise<void>[] = [];
    for (let p = 0, first = 0; p < procs; p++) {
      const slice = Math.floor(count / procs) + (p < count % procs ? 1 : 0);
      const child = new FleetProcess(onEvents);
      this.processes.push(child);
      starts.push(child.call({ type: 'start', storeUrl: this.storeUrl, first, count: slice }));
      first += slice;
    }
    await Promise.all(starts);
    for (let i = 0; i < count; i++) this.nodes.push({ node: nodeName(i) });
  }

  /** Starts recording `running` reports of `sha`, and snapshots, from now (every process). */
  async expect(sha: string): Promise<void> {
    await Promise.all(this.processes.map((p) => p.call({ type: 'expect', sha })));
    this.events.running.clear();
    this.events.woke.clear();
  }

  /** Resolves once every process has sent what it counted and saw so far. */
  async sync(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.call({ type: 'flush' })));
  }

  /**
   * The event-loop delay of the fleet processes since the last call for the same `window` (the
   * worst process's p99, and the worst delay): how late the simulated agents ran their timers and
   * read their sockets. `trace` and `figure` are measured apart, so a trace does not cut a figure's.
   */
  async loopDelay(
    window: 'trace' | 'figure' = 'figure',
  ): Promise<{ p99Ms: number; maxMs: number }> {
    await Promise.all(this.processes.map((p) => p.call({ type: 'loop-delay', window })));
    return {
      p99Ms: Math.max(0, ...this.processes.map((p) => p.loopDelay.p99Ms)),
      maxMs: Math.max(0, ...this.processes.map((p) => p.loopDelay.maxMs)),
    };
  }

  /** Waits until every host reported `running` with the expected sha (or `timeoutMs` passed). */
  async allRunning(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.events.running.size < this.nodes.length) {
      if (performance.now() > deadline) return false;
      await sleep(10);
    }
    await this.sync();
    return true;
  }

  /** The fleet processes' pids (for their CPU and open files). */
  pids(): number[] {
    return this.processes.map((p) => p.pid);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(async (p) => {
        const timer = setTimeout(() => p.kill(), 60_000);
        await p.call({ type: 'stop' }).catch(() => p.kill());
        await p.exited;
        clearTimeout(timer);
      }),
    );
  }
}
