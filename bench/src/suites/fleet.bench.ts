/**
 * Fleet scale: N simulated hosts (bench/src/fleet.ts: the real preparer on an in-memory host, one
 * store client each, all in this process) against a store in other processes — p2-kv-server, and a
 * real 3-member etcd cluster — with the real controller farms (@p2/controller-farms) in this process.
 *
 *   pnpm bench fleet                      # 1,000 hosts, kv-server and etcd
 *   pnpm bench fleet --large              # 1,000 and 5,000
 *   pnpm bench fleet --hosts=100 --store=kv
 *   pnpm bench fleet --in-flight=50       # the daemon set farm's cap (default: N, all at once)
 *   pnpm bench fleet --profile            # kv-server under --cpu-prof (P2_BENCH_PROFILE_DIR)
 *   pnpm bench fleet --profile-fleet      # the fleet processes under --cpu-prof (same directory)
 *   pnpm bench fleet --procs=2            # fleet processes (default: one per 1,000 hosts)
 *   pnpm bench fleet --scenario=ds,rc     # scenarios (default: ds); rc: see bench/src/fleet-rc.ts
 *   pnpm bench fleet --scenario=rc --rc-min-healthy=0.9   # the roll keeps ≥ 90 % healthy
 *   pnpm bench fleet --trace-fds          # open files, hosts running and CPU every 5 s (stderr)
 *
 * Per store and size, in one run:
 * - a daemon set scheduled from nothing (v1), then updated (v1 → v2): time from the write until each
 *   host reports the new version running (its `running` report, written after reality), p50/p99/max
 *   per host and for the whole fleet; the watch wake-up (controller's intent write started → the
 *   host's intent watch yields it), p50/p99;
 * - store writes during the update (index delta) per host, and the keys written by kind;
 * - store CPU seconds, peak RSS and open files (from /proc of the store processes; open files per
 *   host are the store's connections per host, near enough), requests/s made by the
 *   fleet's clients, store I/O bytes/s (rchar + wchar: socket and disk);
 * - kv-server only: the store SIGKILLed and restarted under every watcher; a daemon set update
 *   written at once — recovery (restart → every host runs it) and the peak request rate.
 * - rc (`--scenario=rc`): an RC scaled 0 → N (one replica per host), then rolled v1 → v2 by the
 *   roll farm with health gating (bench/src/fleet-rc.ts); the RC and roll farms run here too.
 * The figures are printed with the ratio 5,000 / 1,000 when both ran.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControllerFarms } from '@p2/controller-farms';
import { DsStore, readDsStatus } from '@p2/daemon-set';
import { LabelStore } from '@p2/keyspace';
import { createStore, type Store, type StoreOptions } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { startEtcd } from '../../../packages/kv/src/etcd-test-support.js';
import {
  counted,
  ms,
  openFds,
  peakSampler,
  procUsage,
  RequestCounter,
  type Row,
  spawnKvServer,
  spread,
  storeIndex,
  writtenKeys,
} from '../fleet.js';
import { ProcessFleet } from '../fleet-procs.js';
import { rcScenario } from '../fleet-rc.js';
import { summarize } from '../harness.js';

type Kind = 'kv' | 'etcd';

interface StoreUnderTest {
  /** The store's address, for the fleet processes. */
  url: string;
  open(options?: StoreOptions): Store;
  pids(): number[];
  /** SIGKILL and start again on the same data and port; resolves when it listens again. */
  restart?(downMs: number): Promise<void>;
  /** Restarts that failed to spawn (EMFILE in this process) and were tried again 100 ms later. */
  spawnRetries?(): number;
  stop(): Promise<void>;
}

async function startStore(kind: Kind): Promise<StoreUnderTest> {
  if (kind === 'etcd') {
    const cluster = await startEtcd(3);
    const url = `etcd://${cluster.endpoints.join(',')}`;
    return {
      url,
      open: (options) => createStore(url, options),
      pids: () => cluster.members.flatMap((m) => (m.process?.pid ? [m.process.pid] : [])),
      stop: () => cluster.stop(),
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'p2t-fleet-kv-'));
  const extra = ['--max-blocking-per-client', '100000'];
  let server = await spawnKvServer(dir, 0, extra);
  let spawnRetries = 0;
  const port = server.port;
  const url = `consul://127.0.0.1:${port}`;
  return {
    url,
    open: (options) => createStore(url, options),
    pids: () => [server.pid],
    spawnRetries: () => spawnRetries,
    async restart(downMs) {
      await server.kill9();
      await sleep(downMs);
      // This process holds every host's sockets; at its open-file limit (hosts reconnecting)
      // spawning fails with EMFILE, so the harness retries: the store's outage grows by that.
      for (let attempt = 0; ; attempt++) {
        try {
          server = await spawnKvServer(dir, port, extra);
          return;
        } catch (error) {
          if (attempt >= 100 || !String(error).includes('EMFILE')) throw error;
          spawnRetries++;
          await sleep(100);
        }
      }
    },
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const manifestText = (v: number) =>
  `id: p2t-fleet-agent\nlaunchables:\n  agent:\n    launchable_type: hoist\n    location: https://artifacts.invalid/agent_${v}.tar.gz\nconfig:\n  version: ${v}\n`;

async function waitDsSettled(store: Store, id: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const status = await readDsStatus(store, id).catch(() => undefined);
    if (status && !status.replication_in_progress) return;
    await sleep(200);
  }
}

type Scenario = 'ds' | 'rc';

async function runFleet(kind: Kind, n: number, scenarios: Scenario[], row: Row): Promise<void> {
  const target = await startStore(kind);
  // Over the whole run: the open files of the store and of this process (a size that fails with
  // EMFILE or a timeout shows here how close to the limit it was), and with --trace-fds every 5 s.
  // This process (the controller) and the fleet processes: what the simulation costs.
  const benchPids = () => [process.pid, ...fleet.pids()];
  const runPeaks = peakSampler(target.pids, benchPids);
  const t00 = performance.now();
  let lastLoopDelay = { p99Ms: 0, maxMs: 0 };
  const trace = process.argv.includes('--trace-fds')
    ? setInterval(() => {
        void fleet.loopDelay('trace').then(
          (d) => {
            lastLoopDelay = { p99Ms: Math.round(d.p99Ms), maxMs: Math.round(d.maxMs) };
          },
          () => {},
        );
        const use = procUsage(target.pids());
        console.error(
          JSON.stringify({
            s: Math.round((performance.now() - t00) / 1000),
            hosts: fleet.nodes.length,
            running: fleet.events.running.size,
            storeFds: openFds(target.pids()),
            benchFds: openFds(benchPids()),
            storeCpuS: use.cpuS,
            benchCpuS: procUsage(benchPids()).cpuS,
            loopDelayMs: lastLoopDelay,
          }),
        );
      }, 5000)
    : undefined;
  // Each host's client as p2-preparer opens it (in the fleet processes); the controller's (`base`)
  // as p2-controllers does.
  const fleet = new ProcessFleet(target.url, procs(n));
  row['fleet processes'] = procs(n);
  const ctlCounter = new RequestCounter();
  const intentWritten = new Map<string, number>();
  const base = target.open();
  // The controller's store: notes when it starts writing each node's intent (for the wake-up).
  const ctlStore = new Proxy(counted(base, ctlCounter), {
    get(t, prop, r) {
      if (prop !== 'txn') return Reflect.get(t, prop, r);
      return (ops: { verb: string; key: string }[], ...rest: unknown[]) => {
        const now = performance.now();
        for (const op of ops)
          if (op.key.startsWith('intent/')) intentWritten.set(op.key.split('/')[1] ?? '', now);
        return (t.txn as (...a: unknown[]) => Promise<unknown>)(ops, ...rest);
      };
    },
  });
  try {
    const t = performance.now();
    await fleet.start(n);
    row['fleet start s'] = ((performance.now() - t) / 1000).toFixed(1);
    await new LabelStore(base, { validate: false }).applyBatch(
      fleet.nodes.map((x) => ({ type: 'node' as const, id: x.node, set: { fleet: 'bench' } })),
    );
    // minHealth 0: nothing bounds a wave but the in-flight cap; P2's 50 makes N/50 waves.
    const farms = startControllerFarms({
      store: ctlStore,
      farms: scenarios.flatMap((s) =>
        s === 'ds' ? ['ds' as const] : ['rc' as const, 'roll' as const],
      ),
      dsMaxInFlight: Number(arg('in-flight') ?? n),
    });
    try {
      if (scenarios.includes('ds')) await dsScenario();
      if (scenarios.includes('rc'))
        Object.assign(
          row,
          await rcScenario({
            fleet,
            store: base,
            controllerRequests: ctlCounter,
            minHealthyShare: Number(arg('rc-min-healthy') ?? 0.9),
            timeoutMs: 600_000,
          }),
        );
    } finally {
      await farms.stop();
    }
  } finally {
    clearInterval(trace);
    const peak = runPeaks.stop();
    row['run: store fds, peak'] = peak.fds;
    row['run: bench process fds, peak'] = peak.ownFds;
    await fleet.stop();
    await base.close();
    await target.stop();
  }

  async function dsScenario(): Promise<void> {
    row['ds in flight'] = Number(arg('in-flight') ?? n);
    const dss = new DsStore(base);
    // v1 from nothing
    const m1 = parseManifest(manifestText(1));
    await fleet.expect(m1.sha());
    const schedulePeaks = peakSampler(target.pids, benchPids);
    let t0 = performance.now();
    const ds = await dss.create({
      manifest: m1,
      nodeSelector: 'fleet=bench',
      minHealth: 0,
      clusterName: 'bench',
      timeoutMs: 120_000,
    });
    const scheduled = await fleet.allRunning(300_000);
    const s1 = spread(fleet.events.running, t0);
    row['schedule: all running ms'] = scheduled
      ? ms(s1.max)
      : `>${ms(s1.max)} (timeout, ${fleet.events.running.size} hosts)`;
    const schedulePeak = schedulePeaks.stop();
    row['schedule: store fds, peak'] = schedulePeak.fds;
    row['schedule: bench process fds, peak'] = schedulePeak.ownFds;
    if (!scheduled) {
      // A fleet that could not run v1 everywhere in 5 minutes has no update to time (etcd at
      // 5,000 hosts on 2 cores: the simulated agents take the machine, docs/scaling.md).
      row['update: all hosts ms'] = 'not run: the schedule did not finish';
      return;
    }
    await waitDsSettled(base, ds.id, 120_000);
    await sleep(2000);

    // v1 → v2
    const m2 = parseManifest(manifestText(2));
    const before = { index: await storeIndex(base), use: procUsage(target.pids()) };
    await fleet.sync();
    const reqBefore = fleet.requests.total + ctlCounter.total;
    const methodsBefore = new Map(fleet.requests.byMethod);
    const fleetCpu = procUsage(benchPids()).cpuS;
    const peaks = peakSampler(target.pids, benchPids);
    intentWritten.clear();
    await fleet.loopDelay(); // from here
    await fleet.expect(m2.sha());
    t0 = performance.now();
    await dss.updateManifest(ds.id, m2);
    const updated = await fleet.allRunning(300_000);
    const s2 = spread(fleet.events.running, t0);
    // The last host's report (allRunning hears of it up to 20 ms later, from a fleet process).
    const fleetMs = updated ? s2.max : performance.now() - t0;
    await waitDsSettled(base, ds.id, 120_000);
    const settledMs = performance.now() - t0;
    const after = { index: await storeIndex(base), use: procUsage(target.pids()) };
    const peak = peaks.stop();
    const wakes = [...fleet.events.woke].flatMap(([node, woke]) => {
      const w = intentWritten.get(node);
      return w === undefined ? [] : [Math.max(0, woke - w)];
    });
    const wake = summarize('wake', wakes);
    const seconds = settledMs / 1000;
    const requests = fleet.requests.total + ctlCounter.total - reqBefore;
    const kinds = await writtenKeys(base, before.index);
    await fleet.sync();
    const cpuS = procUsage(benchPids()).cpuS - fleetCpu;
    const loopDelay = await fleet.loopDelay();
    const perHost = [...fleet.requests.byMethod]
      .map(([m, c]) => [m, (c - (methodsBefore.get(m) ?? 0)) / n] as const)
      .filter(([, c]) => c >= 0.05)
      .sort((a, b) => b[1] - a[1]);
    Object.assign(row, {
      'update: host p50 ms': ms(s2.p50),
      'update: host p99 ms': ms(s2.p99),
      'update: all hosts ms': updated
        ? ms(fleetMs)
        : `>${ms(fleetMs)} (timeout, ${fleet.events.running.size} hosts)`,
      'update: ds settled ms': ms(settledMs),
      'wake p50 ms': ms(wake.medianMs),
      'wake p99 ms': ms(wake.p99Ms),
      'writes/host': ((after.index - before.index) / n).toFixed(2),
      'keys written': [...kinds].map(([k, c]) => `${k} ${c}`).join(', '),
      'store CPU s': (after.use.cpuS - before.use.cpuS).toFixed(1),
      'store CPU %': Math.round((100 * (after.use.cpuS - before.use.cpuS)) / seconds),
      'store RSS MiB': Math.round(peak.rssMiB),
      'store open fds': openFds(target.pids()),
      'store open fds, peak': peak.fds,
      'store fds/host, peak': (peak.fds / n).toFixed(2),
      'bench process fds, peak': peak.ownFds,
      'req/s': Math.round(requests / seconds),
      'host req/host': perHost.reduce((sum, [, c]) => sum + c, 0).toFixed(1),
      'host req/host by method': perHost.map(([m, c]) => `${m} ${c.toFixed(1)}`).join(', '),
      'controller req': ctlCounter.total,
      'fleet processes CPU % (all, with the controller)': Math.round((100 * cpuS) / seconds),
      'store I/O KiB/s': Math.round((after.use.ioBytes - before.use.ioBytes) / 1024 / seconds),
      'fleet event-loop delay p99 / max ms': `${Math.round(loopDelay.p99Ms)} / ${Math.round(loopDelay.maxMs)}`,
    });

    // Idle: what N hosts cost the store with nothing to do (sessions, heartbeats, re-polls).
    await fleet.sync();
    const idle0 = {
      use: procUsage(target.pids()),
      req: fleet.requests.total,
      byMethod: new Map(fleet.requests.byMethod),
    };
    await sleep(10_000);
    await fleet.sync();
    const idle1 = { use: procUsage(target.pids()), req: fleet.requests.total };
    row['idle req/s'] = Math.round((idle1.req - idle0.req) / 10);
    row['idle req/s by method'] = [...fleet.requests.byMethod]
      .map(([m, c]) => [m, (c - (idle0.byMethod.get(m) ?? 0)) / 10] as const)
      .filter(([, c]) => c >= 0.5)
      .sort((a, b) => b[1] - a[1])
      .map(([m, c]) => `${m} ${Math.round(c)}`)
      .join(', ');
    row['idle store fds/host'] = (openFds(target.pids()) / n).toFixed(2);
    row['idle store CPU %'] = Math.round((100 * (idle1.use.cpuS - idle0.use.cpuS)) / 10);

    if (trace) console.error(JSON.stringify({ before_restart: row }));
    // The store restarts under every watcher (kv-server: one process).
    if (target.restart) {
      const m3 = parseManifest(manifestText(3));
      await fleet.expect(m3.sha());
      const down = performance.now();
      await target.restart(1000);
      const up = performance.now();
      row['restart: down ms'] = ms(up - down);
      row['restart: spawn retries (EMFILE)'] = target.spawnRetries?.() ?? 0;
      const cpu0 = procUsage(target.pids()).cpuS;
      for (;;) {
        try {
          await dss.updateManifest(ds.id, m3);
          break;
        } catch {
          await sleep(50);
        }
      }
      const recovered = await fleet.allRunning(300_000);
      const end = performance.now();
      await fleet.sync();
      row['restart: recovery ms'] = recovered
        ? ms(end - up)
        : `>${ms(end - up)} (timeout, ${fleet.events.running.size} hosts)`;
      row['restart: peak req/s'] = fleet.requests.peakPerSecond(down, end);
      row['restart: store CPU %'] = Math.round(
        (100 * (procUsage(target.pids()).cpuS - cpu0)) / ((end - up) / 1000),
      );
    }
  }
}

function ratios(rows: Row[]): Row[] {
  const out: Row[] = [];
  for (const kind of ['kv', 'etcd']) {
    const mine = rows
      .filter((r) => r.store === kind)
      .sort((a, b) => Number(a.hosts) - Number(b.hosts));
    const small = mine[0];
    const large = mine.at(-1);
    if (!small || !large || small === large) continue;
    const row: Row = { store: kind, hosts: `${large.hosts} / ${small.hosts}` };
    for (const [k, v] of Object.entries(large)) {
      const a = Number(small[k]);
      if (k === 'hosts' || typeof v !== 'number' || !Number.isFinite(a) || a === 0) continue;
      row[k] = (v / a).toFixed(2);
    }
    out.push(row);
  }
  return out;
}

/**
 * Fleet processes for N hosts: `--procs=K`, or one per 1,000 hosts — one Node thread drives about
 * that many agents before it, not the store, is what a figure measures (docs/scaling.md).
 */
const procs = (n: number) => Number(arg('procs') ?? Math.max(1, Math.ceil(n / 1000)));

const arg = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

export async function run(): Promise<void> {
  const sizes = (arg('hosts') ?? (process.argv.includes('--large') ? '1000,5000' : '1000'))
    .split(',')
    .map(Number);
  const kinds = (arg('store') ?? 'kv,etcd').split(',') as Kind[];
  const scenarios = (arg('scenario') ?? 'ds').split(',') as Scenario[];
  for (const s of scenarios)
    if (s !== 'ds' && s !== 'rc') throw new Error(`--scenario: ds or rc, got ${JSON.stringify(s)}`);
  const rows: Row[] = [];
  for (const kind of kinds)
    for (const n of sizes) {
      // A size that does not fit (EMFILE, a timeout) is reported, and the other sizes still run.
      const row: Row = { store: kind, hosts: n };
      await runFleet(kind, n, scenarios, row).catch((error: unknown) => {
        row.failed = String(error);
      });
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  if (scenarios.includes('rc'))
    console.log(
      `\nrc: ${sizes.join(', ')} replicas, one per host — a legacy RC places at most one replica of a pod on a node, so the 10,000 replicas asked for need 10,000 hosts; this machine holds about 3,000 simulated hosts on one kv-server (20,000 open files: docs/scaling.md)`,
    );
  console.log(
    `\n## fleet: ${scenarios.join(' + ')} (ds: daemon set update v1 → v2; rc: RC scaled 0 → N, rolled v1 → v2), N simulated hosts`,
  );
  const transposed: Record<string, Row> = {};
  for (const row of rows)
    for (const [k, v] of Object.entries(row)) {
      transposed[k] ??= {};
      transposed[k][`${row.store} ${row.hosts}`] = v;
    }
  console.table(transposed);
  const r = ratios(rows);
  if (r.length > 0) {
    console.log('\n## growth: figure at the largest N / at the smallest N');
    console.table(r);
  }
}
