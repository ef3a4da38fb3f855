/**
 * The three-host scenario on a real 3-member etcd cluster (issue 24): the same network namespaces
 * and real p2-preparers as `multi-host.test.ts`, but every preparer, the built `p2-controllers` and
 * the `p2` CLI reach the store as `etcd://m1,m2,m3/<prefix>`. Labels through `p2 label set`, an RC
 * spread over the zones, a rolling update v1 → v2 with min healthy 2 during which the etcd leader is
 * SIGKILLed (the roll completes and never fewer than 2 hosts serve), the killed member restarted on
 * its data dir (it rejoins and catches up), and a daemon set. Needs root; everything made (etcd
 * members, namespaces, users, cgroups) is removed in afterAll, also after a failure.
 */
import { DsStore } from '@p2/daemon-set';
import { RcStore } from '@p2/rc';
import { RollStore } from '@p2/roll';
import { beforeAll, describe, expect, it } from 'vitest';
import { p2Runner } from '../src/cli.js';
import type { EtcdTestCluster, EtcdTestMember } from '../src/etcd-cluster.js';
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

const APP_PORT = 18280;
const DS_PORT = 18290;
const ZONES = ['a', 'b', 'c'];

let cluster: Cluster;
let etcd: EtcdTestCluster;
let controllers: Proc | undefined;
let poller: ReturnType<typeof pollApps> | undefined;
let killed: EtcdTestMember | undefined;
const { p2Json, killAll } = p2Runner(() => cluster.storeUrl);
const pods = { app: '', ds: '' };
const rcIds: Record<string, string> = {};

const allNodes = () => cluster.hosts.map((h) => h.node).sort();

/** The nodes whose health record of `pod` passes. */
async function passingNodes(pod: string): Promise<string[]> {
  const { value } = await cluster.store.list(`health/${pod}/`);
  return value
    .filter((e) => JSON.parse(Buffer.from(e.value).toString('utf8')).Status === 'passing')
    .map((e) => e.key.split('/')[2] ?? '')
    .sort();
}

beforeAll(async () => {
  cluster = await startCluster(3, { store: 'etcd' });
  if (!cluster.etcd) throw new Error('startCluster made no etcd cluster');
  etcd = cluster.etcd;
  pods.app = `p2t-etcd-${cluster.id}`;
  pods.ds = `p2t-etcdds-${cluster.id}`;
  for (const pod of Object.values(pods)) await cluster.createPodUser(pod);
  await waitForPreparers(cluster);
  controllers = startControllersProcess(cluster.storeUrl, `${cluster.work}/logs`, [
    ...QUICK_CONTROLLER_ARGS,
    '--log-level',
    'debug',
  ]);
});

tearDownClusterAfterAll(() => ({ cluster, controllers, poller }), { killAll });

describe('controllers on three hosts on a 3-member etcd cluster', () => {
  it('the preparers, p2 and p2-controllers all work the etcd cluster', async () => {
    expect(cluster.storeUrl).toMatch(
      /^etcd:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\//,
    );
    expect(cluster.storeUrlForHosts).toMatch(/^etcd:\/\/10\./);
    expect(await etcd.memberNames()).toEqual(['p2t-e0', 'p2t-e1', 'p2t-e2']);
    for (const [i, h] of cluster.hosts.entries())
      expect(
        await p2Json(['label', 'set', 'node', h.node, 'role=web', `zone=${ZONES[i]}`]),
      ).toEqual({ type: 'node', id: h.node, labels: { role: 'web', zone: ZONES[i] } });
  });

  it('an RC with 3 replicas and a zone spread runs one healthy pod on each host', async () => {
    const v1 = await cluster.artifact('v1');
    const rc = await new RcStore(cluster.store).create({
      manifest: helloManifest(cluster, pods.app, v1, APP_PORT, 'hello v1'),
      nodeSelector: 'role=web',
      replicasDesired: 3,
      topologySpreadKey: 'zone',
    });
    rcIds.v1 = rc.id;
    await waitFor(
      'three passing health records',
      async () => (await passingNodes(pods.app)).length === 3,
      60_000,
      250,
    );
    expect(await passingNodes(pods.app)).toEqual(allNodes());
    expect(await intentNodes(cluster, pods.app)).toEqual(allNodes());
    poller = pollApps(cluster, APP_PORT);
    await waitFor(
      'all three apps to answer from inside their namespaces',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v1'),
      20_000,
    );
  });

  it('a rolling update v1 → v2 completes with ≥ 2 serving while the etcd leader is SIGKILLed', async () => {
    const v2 = await cluster.artifact('v2');
    const rcs = new RcStore(cluster.store);
    const rolls = new RollStore(cluster.store);
    const rc = await rcs.create({
      manifest: helloManifest(cluster, pods.app, v2, APP_PORT, 'hello v2'),
      nodeSelector: 'role=web',
      topologySpreadKey: 'zone',
      disabled: true,
    });
    const from = Date.now();
    await rolls.create({
      oldRc: rcIds.v1 ?? '',
      newRc: rc.id,
      desiredReplicas: 3,
      minimumReplicas: 2,
      progressDeadlineMs: 60_000,
      autoRollback: true,
    });
    // Mid-roll: once the new RC holds a replica, the leader dies.
    await waitFor(
      'the new RC to get its first replica',
      async () => ((await rcs.get(rc.id))?.rc.replicasDesired ?? 0) >= 1,
      30_000,
      100,
    );
    killed = await etcd.leader();
    expect((await rolls.status(rc.id))?.state).toBe('rolling');
    await etcd.kill(killed);
    const killedAt = Date.now();
    const newLeader = await etcd.leader();
    expect(newLeader.name).not.toBe(killed.name);
    const status = await waitFor(
      'the roll to end',
      async () => {
        const s = await rolls.status(rc.id).catch(() => undefined);
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
    for (const h of cluster.hosts) {
      // Polled throughout, and really moved from v1 to v2.
      expect(samples.filter((s) => s.host === h.index && s.t >= killedAt).length).toBeGreaterThan(
        10,
      );
      expect(
        samples.filter((s) => s.host === h.index && s.t >= from).map((s) => s.greeting),
      ).toContain('hello v2');
    }
    expect(
      minServing(samples, 3, from, to),
      `serving hosts during the roll (leader ${killed.name} killed at +${killedAt - from} ms):\n${transitions(samples, from)}`,
    ).toBeGreaterThanOrEqual(2);
    expect(await intentNodes(cluster, pods.app)).toEqual(allNodes());
  });

  it('the killed member restarts on its data dir, rejoins and catches up', async () => {
    if (!killed) throw new Error('no member was killed');
    const member = killed;
    expect(await etcd.healthy(member)).toBe(false);
    await etcd.restart(member);
    expect(await etcd.memberNames()).toEqual(['p2t-e0', 'p2t-e1', 'p2t-e2']);
    for (const m of etcd.members) expect([m.name, await etcd.healthy(m)]).toEqual([m.name, true]);
    // Caught up: it applies the same raft index as the others once a write has gone through.
    await cluster.store.put(`p2t-probe/${cluster.id}`, new TextEncoder().encode('after restart'));
    await waitFor(
      'the restarted member to apply the same raft index as the others',
      async () => new Set(Object.values(await etcd.raftIndexes())).size === 1,
      20_000,
      200,
    );
    expect(Object.keys(await etcd.raftIndexes()).sort()).toEqual(['p2t-e0', 'p2t-e1', 'p2t-e2']);
    await cluster.store.delete(`p2t-probe/${cluster.id}`);
  });

  it('a daemon set lands on every host its selector picks', async () => {
    const v1 = await cluster.artifact('v1');
    await new DsStore(cluster.store).create({
      manifest: helloManifest(cluster, pods.ds, v1, DS_PORT, 'daemon'),
      nodeSelector: 'zone in (a,b,c)',
      minHealth: 2,
      clusterName: 'p2t',
      timeoutMs: 30_000,
    });
    await waitFor(
      'the daemon set healthy on every host',
      async () => (await passingNodes(pods.ds)).length === 3,
      60_000,
      250,
    );
    expect(await intentNodes(cluster, pods.ds)).toEqual(allNodes());
    for (const h of cluster.hosts)
      expect(
        await cluster.inHost(h, [
          process.execPath,
          '-e',
          `fetch('http://127.0.0.1:${DS_PORT}/').then(r=>r.text()).then(t=>process.stdout.write(t))`,
        ]),
      ).toBe('daemon\n');
  });
});
