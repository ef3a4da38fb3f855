/**
 * The fleet bench's RC scenario (`pnpm bench fleet --scenario=rc`): an RC scaled from 0 to one
 * replica per host, then rolled v1 → v2 by the roll farm with health gating — the RC and roll farms
 * run in the bench process, the hosts are the simulated fleet of `fleet.ts`.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { RollStore, waitForRoll } from '@p2/roll';
import {
  ms,
  type RequestCounter,
  type Row,
  spread,
  storeIndex,
  writeRequests,
  writtenKeys,
} from './fleet.js';
import type { ProcessFleet } from './fleet-procs.js';

const POD = 'p2t-fleet-rc';
const manifestText = (v: number) =>
  `id: ${POD}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/rc_${v}.tar.gz\nconfig:\n  version: ${v}\n`;

/** What the scenario runs on: the fleet (labelled `fleet=bench`) and the RC and roll farms' store. */
export interface RcScenarioContext {
  fleet: ProcessFleet;
  /** A store client of the bench's own (not a host's). */
  store: Store;
  /** Requests of the controllers' store client. */
  controllerRequests: RequestCounter;
  /** The roll keeps at least this share of replicas healthy. */
  minHealthyShare: number;
  timeoutMs: number;
}

/** Index, host requests and controller requests at the start of a phase; `end` adds its figures. */
async function phase(c: RcScenarioContext, label: string) {
  const n = c.fleet.nodes.length;
  const index = await storeIndex(c.store);
  await c.fleet.sync();
  const writes = new Map(c.fleet.requests.byMethod);
  const requests = c.fleet.requests.total;
  const controller = c.controllerRequests.total;
  return {
    async end(row: Row): Promise<void> {
      await c.fleet.sync();
      const kinds = await writtenKeys(c.store, index);
      Object.assign(row, {
        [`${label}: store writes/host`]: (((await storeIndex(c.store)) - index) / n).toFixed(2),
        [`${label}: host write requests/host`]: (
          writeRequests(c.fleet.requests, writes) / n
        ).toFixed(2),
        [`${label}: host req/host`]: ((c.fleet.requests.total - requests) / n).toFixed(1),
        [`${label}: host req/host by method`]: [...c.fleet.requests.byMethod]
          .map(([m, v]) => [m, (v - (writes.get(m) ?? 0)) / n] as const)
          .filter(([, v]) => v >= 0.05)
          .map(([m, v]) => `${m} ${v.toFixed(1)}`)
          .join(', '),
        [`${label}: controller req`]: c.controllerRequests.total - controller,
        [`${label}: keys written`]: [...kinds].map(([k, v]) => `${k} ${v}`).join(', '),
      });
    },
  };
}

/** Waits until every host's record for the pod says `passing`. */
async function allPassing(store: Store, n: number, deadline: number): Promise<boolean> {
  const health = new HealthStore(store);
  while (performance.now() < deadline) {
    const records = await health.forPod(POD).catch(() => new Map());
    if ([...records.values()].filter((r) => r.status === 'passing').length >= n) return true;
    await sleep(200);
  }
  return false;
}

/**
 * Replicas running v1 or v2 and healthy, as the roll counts them (controller-kit's `healthyAfter`:
 * a `passing` record written after the node's reality entry), from two listings.
 */
async function healthyReplicas(store: Store): Promise<number> {
  const [health, reality] = await Promise.all([
    store.list(`health/${POD}/`),
    store.list('reality/'),
  ]);
  const realityIndex = new Map<string, number>();
  for (const e of reality.value) {
    const [, node, pod] = e.key.split('/');
    if (pod === POD && node) realityIndex.set(node, e.modifyIndex);
  }
  let healthy = 0;
  for (const e of health.value) {
    const node = e.key.slice(`health/${POD}/`.length);
    const since = realityIndex.get(node);
    if (since === undefined || e.modifyIndex <= since) continue;
    if (HealthStore.decode(e).status === 'passing') healthy++;
  }
  return healthy;
}

/** Samples {@link healthyReplicas} every second until stopped; gives the lowest count seen. */
function lowestHealthy(store: Store): { stop(): Promise<number> } {
  let lowest = Number.POSITIVE_INFINITY;
  let running = true;
  const loop = (async () => {
    while (running) {
      lowest = Math.min(lowest, await healthyReplicas(store).catch(() => lowest));
      await sleep(1000);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return lowest;
    },
  };
}

/** Waits until every host runs the expected version; adds the time since `t0` and the spread. */
async function allRunning(c: RcScenarioContext, row: Row, label: string, t0: number) {
  const { fleet } = c;
  const done = await fleet.allRunning(c.timeoutMs);
  const s = spread(fleet.events.running, t0);
  row[`${label} ms`] = done
    ? ms(s.max)
    : `>${ms(performance.now() - t0)} (timeout, ${fleet.events.running.size} hosts)`;
  row[`${label}: host p50 / p99 ms`] = `${ms(s.p50)} / ${ms(s.p99)}`;
}

/**
 * Runs the scenario and returns its figures: the RC write (0 → N replicas) until every host runs
 * v1; the roll's creation until every host runs v2 and until the roll farm declares it succeeded
 * (with a progress deadline, success means every new replica passing); the lowest healthy count
 * the roll reported meanwhile; store writes per host for each.
 */
export async function rcScenario(c: RcScenarioContext): Promise<Row> {
  const { fleet, store } = c;
  const n = fleet.nodes.length;
  const rcs = new RcStore(store);
  const m1 = parseManifest(manifestText(1));
  const m2 = parseManifest(manifestText(2));
  // A legacy RC places at most one replica of a pod on a node: replicas ≤ hosts.
  const row: Row = { 'rc: replicas': n };
  const rc1 = await rcs.create({
    manifest: m1,
    nodeSelector: 'fleet=bench',
    replicasDesired: 0,
    clusterName: 'bench',
  });
  await sleep(2000); // the RC farm has claimed it

  // 0 → N replicas of v1
  let p = await phase(c, 'rc scale');
  await fleet.expect(m1.sha());
  let t0 = performance.now();
  await rcs.setDesiredReplicas(rc1.id, n);
  await allRunning(c, row, 'rc scale: all running v1', t0);
  const healthy = await allPassing(store, n, performance.now() + c.timeoutMs);
  row['rc scale: all passing ms'] = healthy ? ms(performance.now() - t0) : 'timeout';
  await p.end(row);
  await sleep(2000);

  // v1 → v2, health-gated
  const rc2 = await rcs.create({
    manifest: m2,
    nodeSelector: 'fleet=bench',
    clusterName: 'bench',
    disabled: true,
  });
  const minimum = Math.floor(n * c.minHealthyShare);
  row['roll: minimum healthy'] = minimum;
  p = await phase(c, 'roll');
  await fleet.expect(m2.sha());
  t0 = performance.now();
  await new RollStore(store).create({
    oldRc: rc1.id,
    newRc: rc2.id,
    desiredReplicas: n,
    minimumReplicas: minimum,
    progressDeadlineMs: c.timeoutMs,
    deployer: 'p2t-bench',
  });
  const sampler = lowestHealthy(store);
  let steps = 0;
  const ended = waitForRoll(store, rc2.id, {
    pollMs: 100,
    onStatus: () => {
      steps++;
    },
  });
  await allRunning(c, row, 'roll: all running v2', t0);
  const end = await ended;
  row['roll: succeeded (all v2 healthy) ms'] =
    end.state === 'succeeded' ? ms(performance.now() - t0) : `${end.state}: ${end.status?.message}`;
  row['roll: lowest healthy sampled (1 s)'] = await sampler.stop();
  row['roll: status changes'] = steps;
  await p.end(row);
  return row;
}
