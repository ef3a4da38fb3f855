/**
 * A simulated fleet for `pnpm bench fleet`: N hosts in this process, each the real host agent
 * (`Preparer`: intent and reality watches, per-pod workers, deploy's step order, reality and status
 * writes, heartbeat, health tracking with its session) on its own store client, with only the
 * machine replaced by an in-memory host (`SimHost`). The store runs in other processes
 * (p2-kv-server, or a 3-member etcd cluster), so its CPU, RSS and I/O are read from /proc.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { PodState } from '@p2/host-agent';
import { Preparer, PreparerMetrics, startHealthTracking } from '@p2/host-agent';
import type { Store } from '@p2/kv';
import pino from 'pino';
import { SimHost } from '../../packages/host-agent/src/sim-host.js';

/** One result row of the fleet bench: a column per figure. */
export interface Row {
  [column: string]: string | number;
}

/** The store's current index (the KV table index / etcd revision), read from a key that never exists. */
export const storeIndex = async (store: Store) => (await store.get('p2t-bench/absent')).index;

/** Milliseconds, rounded. */
export const ms = (x: number) => Math.round(x);

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? Number.NaN;
};

/** Time since `t0` of each host's report, p50/p99/max. */
export function spread(times: Map<string, number>, t0: number) {
  const xs = [...times.values()].map((t) => t - t0);
  return { p50: q(xs, 0.5), p99: q(xs, 0.99), max: Math.max(...xs) };
}

/**
 * Keys written after `sinceIndex`, counted by kind (first segment; `status/<type>`), one listing per
 * top-level prefix. A prefix too large to list in one answer (etcd's limit: the events of 5,000
 * hosts) counts as `-1`.
 */
export async function writtenKeys(store: Store, sinceIndex: number): Promise<Map<string, number>> {
  const kinds = new Map<string, number>();
  const top = (await store.keys('', { separator: '/' })).value;
  const prefixes = (
    await Promise.all(
      top.map(async (p) =>
        p === 'status/' ? (await store.keys(p, { separator: '/' })).value : [p],
      ),
    )
  ).flat();
  for (const prefix of prefixes) {
    const kind = prefix.replace(/\/$/, '');
    let entries: Awaited<ReturnType<Store['list']>>['value'];
    try {
      entries = (await store.list(prefix)).value;
    } catch {
      kinds.set(kind, -1);
      continue;
    }
    const n = entries.filter((e) => e.modifyIndex > sinceIndex).length;
    if (n > 0) kinds.set(kind, n);
  }
  return kinds;
}

/** Store methods that write (each a commit when it succeeds). */
const WRITE_METHODS = [
  'put',
  'cas',
  'delete',
  'deleteCas',
  'deleteTree',
  'txn',
  'acquire',
  'release',
];

/** Write requests the hosts' clients made since `before` (a copy of `byMethod`). */
export function writeRequests(counter: RequestCounter, before: Map<string, number>): number {
  return WRITE_METHODS.reduce(
    (sum, m) => sum + (counter.byMethod.get(m) ?? 0) - (before.get(m) ?? 0),
    0,
  );
}

/** Milliseconds since the epoch, sub-millisecond: comparable across processes. */
const absNow = () => performance.timeOrigin + performance.now();

/** What a {@link RequestCounter} counted since the last `drain` (sent from a fleet process). */
export interface CounterDelta {
  byMethod: [string, number][];
  /** Absolute 100 ms bucket (`absNow() / 100`, floored) → requests. */
  buckets: [number, number][];
}

/**
 * Requests the hosts' store clients made, by method and in 100 ms buckets of absolute time (so that
 * counts from several fleet processes add up).
 */
export class RequestCounter {
  readonly byMethod = new Map<string, number>();
  private readonly buckets = new Map<number, number>();
  private pending: { byMethod: Map<string, number>; buckets: Map<number, number> } | undefined;
  total = 0;

  /** Keeps what is counted from now on for {@link drain} too. */
  trackDeltas(): this {
    this.pending = { byMethod: new Map(), buckets: new Map() };
    return this;
  }

  count(method: string): void {
    const bucket = Math.floor(absNow() / 100);
    this.add(method, 1, bucket);
    if (this.pending) {
      this.pending.byMethod.set(method, (this.pending.byMethod.get(method) ?? 0) + 1);
      this.pending.buckets.set(bucket, (this.pending.buckets.get(bucket) ?? 0) + 1);
    }
  }

  /** What was counted since the last drain (needs {@link trackDeltas}). */
  drain(): CounterDelta | undefined {
    if (!this.pending || this.pending.byMethod.size === 0) return undefined;
    const delta = { byMethod: [...this.pending.byMethod], buckets: [...this.pending.buckets] };
    this.pending = { byMethod: new Map(), buckets: new Map() };
    return delta;
  }

  /** Adds another counter's delta. */
  merge(delta: CounterDelta): void {
    for (const [method, n] of delta.byMethod) {
      this.byMethod.set(method, (this.byMethod.get(method) ?? 0) + n);
      this.total += n;
    }
    for (const [bucket, n] of delta.buckets)
      this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + n);
  }

  private add(method: string, n: number, bucket: number): void {
    this.total += n;
    this.byMethod.set(method, (this.byMethod.get(method) ?? 0) + n);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + n);
  }

  /** Highest requests/s over any 1 s window from `fromMs` (a time of `performance.now()`). */
  peakPerSecond(fromMs: number, toMs: number): number {
    const from = Math.floor((performance.timeOrigin + fromMs) / 100);
    const to = Math.ceil((performance.timeOrigin + toMs) / 100);
    let peak = 0;
    for (let i = from; i + 10 <= to + 1; i++) {
      let sum = 0;
      for (let j = i; j < i + 10; j++) sum += this.buckets.get(j) ?? 0;
      peak = Math.max(peak, sum);
    }
    return peak;
  }
}

const STORE_METHODS = new Set([
  'get',
  'list',
  'keys',
  'put',
  'cas',
  'delete',
  'deleteCas',
  'txn',
  'createSession',
  'renewSession',
  'destroySession',
  'acquire',
  'release',
  'deleteTree',
  'sessionInfo',
]);

/** Wraps a store so every request it makes is counted. */
export function counted(store: Store, counter: RequestCounter): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || typeof value !== 'function' || !STORE_METHODS.has(prop))
        return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) => {
        counter.count(prop);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A preparer that notes when its intent watch handed it a snapshot (the watch wake-up). */
class TimedPreparer extends Preparer {
  onSnapshot: ((index: number) => void) | undefined;
  override dispatchSnapshot(...args: Parameters<Preparer['dispatchSnapshot']>): void {
    this.onSnapshot?.(args[1] ?? 0);
    super.dispatchSnapshot(...args);
  }
}

/** One simulated host. */
export interface SimNode {
  node: string;
  host: SimHost;
  preparer: TimedPreparer;
  store: Store;
  close(): Promise<void>;
}

/** What the fleet saw: per node, when each pod state was reported and when each snapshot came. */
export interface FleetEvents {
  /** `node` → performance.now() of the last report of `running` with the sha in `watchSha`. */
  running: Map<string, number>;
  /** `node` → performance.now() of the first intent snapshot at or after `watchIndex`. */
  woke: Map<string, number>;
}

export class SimFleet {
  readonly nodes: SimNode[] = [];
  readonly requests = new RequestCounter();
  readonly events: FleetEvents = { running: new Map(), woke: new Map() };
  /** Only `running` reports of this sha are recorded. */
  watchSha = '';
  /** Only snapshots after this time are recorded. */
  watchFrom = Number.POSITIVE_INFINITY;
  /** Called with each event as it is recorded (`at`: `performance.now()`). */
  onEvent: ((kind: keyof FleetEvents, node: string, at: number) => void) | undefined;

  constructor(
    private readonly openStore: () => Store,
    private readonly healthIntervalMs = 1000,
  ) {}

  /** Starts `count` hosts named `p2t-fleet-<i>` from `first`, `batch` at a time. */
  async start(count: number, first = 0, batch = 100): Promise<void> {
    for (let i = 0; i < count; i += batch) {
      const made = await Promise.all(
        Array.from({ length: Math.min(batch, count - i) }, (_, j) => this.startNode(first + i + j)),
      );
      this.nodes.push(...made);
    }
  }

  private async startNode(i: number): Promise<SimNode> {
    const node = `p2t-fleet-${String(i).padStart(5, '0')}`;
    const store = counted(this.openStore(), this.requests);
    const logger = pino({ level: 'silent' });
    const host = new SimHost(node);
    const health = startHealthTracking({
      store,
      node,
      intervalMs: this.healthIntervalMs,
      timeoutMs: 5000,
      writer: { sessionRetryBaseMs: 1000, sessionRetryMaxMs: 30_000 },
      logger,
    });
    const preparer = new TimedPreparer({
      node,
      store,
      host,
      authorize: async () => {},
      logger,
      metrics: new PreparerMetrics({ processMetrics: false }),
      requirePreparerInIntent: false,
      health: health.tracker,
      onState: (state: PodState) => {
        if (state.state === 'running' && state.sha === this.watchSha) {
          const now = performance.now();
          this.events.running.set(node, now);
          this.onEvent?.('running', node, now);
        }
      },
    });
    preparer.onSnapshot = () => {
      const now = performance.now();
      if (now >= this.watchFrom && !this.events.woke.has(node)) {
        this.events.woke.set(node, now);
        this.onEvent?.('woke', node, now);
      }
    };
    await preparer.start();
    return {
      node,
      host,
      preparer,
      store,
      close: async () => {
        await preparer.stop();
        await health.close();
        await store.close();
      },
    };
  }

  /** Starts recording reports of `sha` and snapshots from now. */
  expect(sha: string): void {
    this.watchSha = sha;
    this.watchFrom = performance.now();
    this.events.running.clear();
    this.events.woke.clear();
  }

  /** Waits until every host reported `running` with the expected sha (or `timeoutMs` passed). */
  async allRunning(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.events.running.size < this.nodes.length) {
      if (performance.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i += 200)
      await Promise.all(this.nodes.slice(i, i + 200).map((n) => n.close()));
  }
}

/** CPU seconds (user + system) and RSS of processes, from /proc. */
export function procUsage(pids: number[]): { cpuS: number; rssMiB: number; ioBytes: number } {
  let ticks = 0;
  let rssKiB = 0;
  let ioBytes = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rssKiB += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const io = readFileSync(`/proc/${pid}/io`, 'utf8');
      ioBytes +=
        Number(/rchar:\s+(\d+)/.exec(io)?.[1] ?? 0) + Number(/wchar:\s+(\d+)/.exec(io)?.[1] ?? 0);
    } catch {
      // the process is gone (a restart); its figures are lost
    }
  }
  return { cpuS: ticks / 100, rssMiB: rssKiB / 1024, ioBytes };
}

/**
 * Open file descriptors (sockets, mostly) of `pids`. Listing a directory takes a descriptor: when
 * that fails (EMFILE, this process is at its limit) the count is the limit.
 */
export function openFds(pids: number[]): number {
  let n = 0;
  for (const pid of pids) {
    try {
      n += readdirSync(`/proc/${pid}/fd`).length;
    } catch (error) {
      // EMFILE: at the limit; ENOENT: the process is gone (a restart), it holds nothing
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EMFILE') n += FD_LIMIT;
      else if (code !== 'ENOENT') throw error;
    }
  }
  return n;
}

/** This process's open-file limit (`ulimit -n`; the store processes inherit it). */
const FD_LIMIT = Number(
  /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1],
);

/** Samples the peak RSS and open files of `pids`, and the open files of `own`, every second. */
export function peakSampler(
  pids: () => number[],
  own: () => number[] = () => [process.pid],
): {
  stop(): { rssMiB: number; fds: number; ownFds: number };
} {
  const peak = { rssMiB: 0, fds: 0, ownFds: 0 };
  const sample = () => {
    const now = pids();
    peak.rssMiB = Math.max(peak.rssMiB, procUsage(now).rssMiB);
    peak.fds = Math.max(peak.fds, openFds(now));
    peak.ownFds = Math.max(peak.ownFds, openFds(own()));
  };
  // Once a second: listing /proc/<pid>/fd of thousands of sockets is synchronous, and every
  // millisecond of it is taken from the simulated hosts sharing this event loop.
  const timer = setInterval(sample, 1000);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

const kvServerCli = fileURLToPath(new URL('../../packages/kv-server/dist/cli.js', import.meta.url));

/** A p2-kv-server process (the built binary, as hosts run it). */
export interface KvServerProcess {
  pid: number;
  port: number;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the built p2-kv-server on `port` (0: any) and resolves once it listens. */
export async function spawnKvServer(
  dataDir: string,
  port: number,
  extra: string[] = [],
): Promise<KvServerProcess> {
  const profile = process.argv.includes('--profile')
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.P2_BENCH_PROFILE_DIR ?? '/tmp/p2t-fleet-prof'}`]
    : [];
  const child = spawn(
    process.execPath,
    [
      ...profile,
      kvServerCli,
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--log-level',
      'warn',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const listening = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`p2-kv-server exited with ${code}`)));
    // Spawning takes descriptors: with every host's sockets in this process it can fail (EMFILE).
    child.once('error', reject);
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return {
    pid: child.pid ?? 0,
    port: listening,
    kill9: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
  };
}
