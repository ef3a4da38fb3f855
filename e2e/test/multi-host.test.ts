/**
 * Controllers end to end on three simulated hosts (issue 11). Each host is a network namespace
 * (`p2t-mh-<id>-<n>`, loopback up, a veth pair in its own /30, default route to the root side)
 * with its own real p2-preparer process, pod root and runit service root; one real p2-kv-server;
 * the built `p2-controllers` binary runs the RC, roll and DS farms. Apps are polled from inside
 * each namespace every 50 ms. Needs root (netns, veths, runit, users, cgroups); everything made is
 * removed in afterAll, also after a failure.
 *
 * Simulation limits: the namespaces isolate the network only — the hosts share this machine's
 * /etc/passwd, so pod users are created up front (three preparers creating one user at once race),
 * and the preparers run health checks every 250 ms (see the rollback test for why).
 */

import { DsStore } from '@p2/daemon-set';
import { dsStatusKey, LabelStore } from '@p2/keyspace';
import type { Manifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { RollStore } from '@p2/roll';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BuiltArtifact } from '../src/artifacts.js';
import {
  type Cluster,
  helloManifest,
  intentNodes,
  minServing,
  pollApps,
  QUICK_CONTROLLER_ARGS,
  startCluster,
  startControllersProcess,
  tearDownClusterAfterAll,
  transitions,
  waitForPreparers,
} from '../src/multi-host.js';
import { type Proc, waitFor } from '../src/processes.js';

const APP_PORT = 18080;
const DS_PORT = 18090;
const ZONES = ['a', 'b', 'c'];

let cluster: Cluster;
let controllers: Proc | undefined;
let poller: ReturnType<typeof pollApps> | undefined;
let podId: string;
let rcs: RcStore;
let rolls: RollStore;
const rcIds: Record<string, string> = {};

const manifest = (
  pod: string,
  artifact: BuiltArtifact,
  port: number,
  greeting: string,
  statusPort = port,
): Manifest => helloManifest(cluster, pod, artifact, port, greeting, statusPort);

async function healthOf(pod: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of (await cluster.store.list(`health/${pod}/`)).value) {
    const node = e.key.split('/')[2] ?? '';
    out[node] = JSON.parse(Buffer.from(e.value).toString('utf8')).Status;
  }
  return out;
}

const allNodes = () => cluster.hosts.map((h) => h.node).sort();

beforeAll(async () => {
  cluster = await startCluster(3);
  podId = `p2t-hello-${cluster.id}`;
  await cluster.createPodUser(podId);
  await cluster.createPodUser(`p2t-ds-${cluster.id}`);
  await waitForPreparers(cluster);
  const labels = new LabelStore(cluster.store);
  for (const [i, h] of cluster.hosts.entries())
    await labels.setLabels('node', h.node, { role: 'web', zone: ZONES[i] ?? 'x' });
  controllers = startControllersProcess(cluster.storeUrl, `${cluster.work}/logs`, [
    ...QUICK_CONTROLLER_ARGS,
    '--log-level',
    'debug',
  ]);
  rcs = new RcStore(cluster.store);
  rolls = new RollStore(cluster.store);
});

tearDownClusterAfterAll(() => ({ cluster, controllers, poller }));

describe('controllers on three hosts (network namespaces)', () => {
  it('an RC with 3 replicas and a zone spread puts one healthy pod on each host', async () => {
    const v1 = await cluster.artifact('v1');
    const rc = await rcs.create({
      manifest: manifest(podId, v1, APP_PORT, 'hello v1'),
      nodeSelector: 'role=web',
      replicasDesired: 3,
      topologySpreadKey: 'zone',
    });
    rcIds.v1 = rc.id;
    const health = await waitFor(
      'three passing health records',
      async () => {
        const h = await healthOf(podId);
        return Object.values(h).filter((s) => s === 'passing').length === 3 ? h : undefined;
      },
      60_000,
      250,
    );
    expect(Object.keys(health).sort()).toEqual(allNodes());
    expect(await intentNodes(cluster, podId)).toEqual(allNodes());
    // Each host's pod belongs to the RC (its pod labels), and the three replicas cover the zones.
    const labels = new LabelStore(cluster.store);
    const zones: string[] = [];
    for (const h of cluster.hosts) {
      const pod = await labels.get('pod', `${h.node}/${podId}`);
      expect(pod.labels.replication_controller_id).toBe(rc.id);
      zones.push((await labels.get('node', h.node)).labels.zone ?? '');
    }
    expect(zones.sort()).toEqual(ZONES);
    for (const h of cluster.hosts) {
      const reality = (await cluster.store.get(`reality/${h.node}/${podId}`)).value;
      expect(reality && Buffer.from(reality.value).toString()).toContain('hello v1');
    }
    poller = pollApps(cluster, APP_PORT);
    await waitFor(
      'all three apps to answer from inside their namespaces',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v1'),
      20_000,
    );
  });

  it('a rolling update v1 → v2 keeps at least min_healthy (2) serving throughout', async () => {
    const v2 = await cluster.artifact('v2');
    const rc = await rcs.create({
      manifest: manifest(podId, v2, APP_PORT, 'hello v2'),
      nodeSelector: 'role=web',
      topologySpreadKey: 'zone',
      disabled: true,
    });
    rcIds.v2 = rc.id;
    const from = Date.now();
    await rolls.create({
      oldRc: rcIds.v1 ?? '',
      newRc: rc.id,
      desiredReplicas: 3,
      minimumReplicas: 2,
      progressDeadlineMs: 40_000,
      autoRollback: true,
    });
    const status = await waitFor(
      'the roll to end',
      async () => {
        const s = await rolls.status(rc.id);
        return s && s.state !== 'rolling' ? s : undefined;
      },
      90_000,
      250,
    );
    expect(status.state).toBe('succeeded');
    await waitFor(
      'all three apps to serve v2',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v2'),
      30_000,
    );
    const to = Date.now();
    const samples = poller?.samples ?? [];
    for (const h of cluster.hosts)
      expect(samples.filter((s) => s.host === h.index && s.t >= from).length).toBeGreaterThan(20);
    expect(
      minServing(samples, 3, from, to),
      `serving hosts during the roll:\n${transitions(samples, from)}`,
    ).toBeGreaterThanOrEqual(2);
    // Every host really went from v1 to v2 (none skipped).
    for (const h of cluster.hosts) {
      const seen = samples.filter((s) => s.host === h.index && s.t >= from).map((s) => s.greeting);
      expect(seen).toContain('hello v2');
    }
    expect(await intentNodes(cluster, podId)).toEqual(allNodes());
  });

  it('an update to a v3 that never becomes healthy rolls back by itself; v2 serves on every host again', async () => {
    const v3 = await cluster.artifact('v3');
    // v3 listens on another port than its status port (APP_PORT, where nothing listens once v2
    // is stopped): it never passes. Keeping the status port lets the preparer's running check of
    // the pod go on (changed check settings leave the old record in place until the first check).
    const rc = await rcs.create({
      manifest: manifest(podId, v3, APP_PORT + 2, 'hello v3', APP_PORT),
      nodeSelector: 'role=web',
      topologySpreadKey: 'zone',
      disabled: true,
    });
    const from = Date.now();
    await rolls.create({
      oldRc: rcIds.v2 ?? '',
      newRc: rc.id,
      desiredReplicas: 3,
      minimumReplicas: 2,
      progressDeadlineMs: 6_000,
      autoRollback: true,
    });
    const status = await waitFor(
      'the roll to give up',
      async () => {
        const s = await rolls.status(rc.id);
        return s && s.state !== 'rolling' ? s : undefined;
      },
      60_000,
      250,
    );
    expect(status.state).toBe('rolled_back');
    expect((await rcs.get(rc.id))?.rc.replicasDesired).toBe(0);
    expect((await rcs.get(rcIds.v2 ?? ''))?.rc.replicasDesired).toBe(3);
    await waitFor(
      'all three apps to serve v2 again',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v2'),
      45_000,
    );
    const samples = poller?.samples ?? [];
    const failedRoll = { from, to: Date.now() };
    // The apps really went back: every host that ran v3 serves v2 again (checked above), and v3
    // was really deployed somewhere (so this was a rollback, not a roll that never started).
    expect(
      samples.some((x) => x.t >= from && x.greeting === undefined),
      'some host stopped serving v2 for v3',
    ).toBe(true);
    // min_healthy held: never fewer than 2 hosts served v2 while v3 was tried and taken back.
    // Known race outside this code: a replica counts as healthy while its node's
    // health/<pod>/<node> still holds the previous manifest's last result (same pod id; the
    // preparer writes reality before the new manifest's first check). Health checks every 250 ms
    // and roll polls every 1 s keep that window closed here; with 250 ms roll polls 1 run in 4
    // moved a second replica to v3 0.27 s after the first, and with a changed status port (the
    // stale record then stays until the new check's first result) 6 runs in 7 did.
    expect(
      minServing(samples, 3, from, failedRoll.to, (g) => g === 'hello v2'),
      `hosts serving v2 during the failed roll:\n${transitions(samples, from)}`,
    ).toBeGreaterThanOrEqual(2);
    await waitFor(
      'three passing health records for v2',
      async () => Object.values(await healthOf(podId)).filter((s) => s === 'passing').length === 3,
      30_000,
      250,
    );
  });

  it('a daemon set lands on every labelled host', async () => {
    const dsPod = `p2t-ds-${cluster.id}`;
    const v1 = await cluster.artifact('v1');
    const ds = await new DsStore(cluster.store).create({
      manifest: manifest(dsPod, v1, DS_PORT, 'daemon'),
      nodeSelector: 'zone in (a,b,c)',
      minHealth: 2,
      clusterName: 'p2t',
      timeoutMs: 30_000,
    });
    const health = await waitFor(
      'the daemon set healthy on every host',
      async () => {
        const h = await healthOf(dsPod);
        return Object.values(h).filter((s) => s === 'passing').length === 3 ? h : undefined;
      },
      60_000,
      250,
    ).catch(async (error: unknown) => {
      const status = (await cluster.store.get(dsStatusKey(ds.id))).value;
      throw new Error(
        `${String(error)}; health ${JSON.stringify(await healthOf(dsPod))}, intent on ${await intentNodes(cluster, dsPod)}, status ${status && Buffer.from(status.value).toString()}`,
      );
    });
    expect(Object.keys(health).sort()).toEqual(allNodes());
    expect(await intentNodes(cluster, dsPod)).toEqual(allNodes());
    for (const h of cluster.hosts)
      expect(
        await cluster.inHost(h, [
          process.execPath,
          '-e',
          `fetch('http://127.0.0.1:${DS_PORT}/').then(r=>r.text()).then(t=>process.stdout.write(t))`,
        ]),
      ).toBe('daemon\n');
  });

  it('p2-controllers exits 0 on SIGTERM and releases every lock it held', async () => {
    const proc = controllers;
    if (!proc) throw new Error('p2-controllers was not started');
    expect(
      (await cluster.store.keys('lock/replication_controllers/')).value.length,
    ).toBeGreaterThan(0);
    expect((await cluster.store.keys('lock/daemon_sets/')).value.length).toBe(1);
    const exited = new Promise<number | null>((resolve) => {
      if (proc.child.exitCode !== null) resolve(proc.child.exitCode);
      else proc.child.once('exit', (code) => resolve(code));
    });
    await proc.stop();
    expect(await exited).toBe(0);
    expect((await cluster.store.keys('lock/replication_controllers/')).value).toEqual([]);
    expect((await cluster.store.keys('lock/daemon_sets/')).value).toEqual([]);
    expect((await cluster.store.keys('lock/rolls/')).value).toEqual([]);
    expect(await proc.log()).toContain('controllers stopped');
  });
});
