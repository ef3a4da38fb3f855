import { createInterface } from 'node:readline';
import { PodTree } from '@p2/keyspace';
import { ManifestBuilder } from '@p2/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
import { p2Runner } from '../src/cli.js';
import {
  type Cluster,
  greetings,
  manifestFile,
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

const APP_PORT = 18180;
const DS_PORT = 18190;
const REP_PORT = 18200;
const ZONES = ['a', 'b', 'c'];

let cluster: Cluster;
let storeUrl: string;
let controllers: Proc | undefined;
let poller: ReturnType<typeof pollApps> | undefined;
const { p2, p2Json, start, killAll } = p2Runner(() => storeUrl);
const pods = { app: '', ds: '', rep: '' };
const rcIds: Record<string, string> = {};

/** `p2 rc create` of the hello app at `version` on `role=web`, spread over the zones. */
async function createAppRc(version: string, ...more: string[]) {
  const { path: file } = await manifestFile(
    cluster,
    pods.app,
    version,
    APP_PORT,
    `hello ${version}`,
  );
  const args = ['-m', file, '-n', 'role=web', '--spread-key', 'availability_zone', ...more];
  return p2Json<{ id: string; podId: string; replicasDesired: number; disabled: boolean }>([
    'rc',
    'create',
    ...args,
  ]);
}

const allNodes = () => cluster.hosts.map((h) => h.node).sort();

interface InspectRow {
  node: string;
  pod: string;
  health?: string;
  verdict: string;
}

/** The nodes where `p2 inspect --pod` shows `pod` converged and passing. */
async function healthyNodes(pod: string): Promise<string[]> {
  const r = await p2(['inspect', '--pod', pod, '--json']);
  if (r.code !== 0) return [];
  const rows = (JSON.parse(r.out) as { pods: InspectRow[] }).pods;
  return rows
    .filter((p) => p.verdict === 'converged' && p.health === 'passing')
    .map((p) => p.node)
    .sort();
}

beforeAll(async () => {
  cluster = await startCluster(3);
  storeUrl = cluster.storeUrl;
  pods.app = `p2t-cli-${cluster.id}`;
  pods.ds = `p2t-clids-${cluster.id}`;
  pods.rep = `p2t-clirep-${cluster.id}`;
  for (const pod of Object.values(pods)) await cluster.createPodUser(pod);
  // p2 replicate deploys only to nodes whose reality lists the p2-preparer pod (P2's preflight). A
  // bootstrapped host runs its preparer as that pod; the simulated hosts run it as a bare process,
  // so record what bootstrap would have (the preparers leave reality entries of pods they do not run
  // alone).
  const reality = new PodTree(cluster.store, 'reality');
  for (const h of cluster.hosts)
    await reality.setPod(h.node, new ManifestBuilder().setId('p2-preparer').build());
  await waitForPreparers(cluster);
  controllers = startControllersProcess(storeUrl, `${cluster.work}/logs`, QUICK_CONTROLLER_ARGS);
});

tearDownClusterAfterAll(() => ({ cluster, controllers, poller }), { killAll });

describe('p2 CLI on three hosts (network namespaces)', () => {
  it('p2 label set puts role and availability_zone on the nodes; p2 label query finds them', async () => {
    for (const [i, h] of cluster.hosts.entries()) {
      const view = await p2Json([
        'label',
        'set',
        'node',
        h.node,
        'role=web',
        `availability_zone=${ZONES[i]}`,
      ]);
      expect(view).toEqual({
        type: 'node',
        id: h.node,
        labels: { role: 'web', availability_zone: ZONES[i] },
      });
    }
    const found = await p2Json<Array<{ id: string }>>([
      'label',
      'query',
      'node',
      'availability_zone in (a,b,c),role=web',
    ]);
    expect(found.map((v) => v.id).sort()).toEqual(allNodes());
    const none = await p2Json<unknown[]>(['label', 'query', 'node', 'availability_zone=z']);
    expect(none).toEqual([]);
  });

  it('p2 rc create with 3 replicas spread over the zones runs a healthy pod on each host', async () => {
    const rc = await createAppRc('v1', '-r', '3');
    expect(rc).toMatchObject({ podId: pods.app, replicasDesired: 3, nodeSelector: 'role=web' });
    rcIds.v1 = rc.id;
    await waitFor(
      'p2 inspect to show the pod converged and passing on every host',
      async () => (await healthyNodes(pods.app)).length === 3,
      60_000,
      500,
    );
    const got = await p2Json<{ id: string; nodes: string[] }>(['rc', 'get', rc.id]);
    expect(got.nodes).toEqual(allNodes());
    poller = pollApps(cluster, APP_PORT);
    await waitFor(
      'all three apps to answer from inside their namespaces',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v1'),
      20_000,
    );
    const missing = await p2(['rc', 'get', '0f8fad5b-d9cb-469f-a165-000000000000', '--json']);
    expect(missing.code).toBe(4);
  });

  it('p2 roll start --wait moves v1 → v2 keeping 2 serving, and exits 0 with v2 everywhere', async () => {
    const rc = await createAppRc('v2', '--disabled');
    expect(rc.disabled).toBe(true);
    rcIds.v2 = rc.id;
    const from = Date.now();
    const end = await p2Json<{ state: string; roll: { oldRc: string; newRc: string } }>(
      [
        'roll',
        'start',
        '--old',
        rcIds.v1 ?? '',
        '--new',
        rc.id,
        '-d',
        '3',
        '--minimum',
        '2',
        '--deadline',
        '40s',
        '--rollback',
        '--wait',
        '--poll',
        '500ms',
      ],
      100_000,
    );
    expect(end.state).toBe('succeeded');
    expect(end.roll).toMatchObject({ oldRc: rcIds.v1, newRc: rc.id });
    await waitFor(
      'all three apps to serve v2',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v2'),
      30_000,
    );
    const samples = poller?.samples ?? [];
    expect(
      minServing(samples, 3, from, Date.now()),
      `serving hosts during the roll:\n${transitions(samples, from)}`,
    ).toBeGreaterThanOrEqual(2);
    for (const h of cluster.hosts) {
      const seen = samples.filter((s) => s.host === h.index && s.t >= from).map((s) => s.greeting);
      expect(seen).toContain('hello v2');
    }
    expect((await p2Json<{ nodes: string[] }>(['rc', 'get', rc.id])).nodes).toEqual(allNodes());
    // The roll farm deleted the old RC at the end (no --leave-old).
    expect((await p2(['rc', 'get', rcIds.v1 ?? '', '--json'])).code).toBe(4);
  });

  it('p2 ds create on two zones, ds test-selector, then ds update to v2 on every host', async () => {
    const { path: v1 } = await manifestFile(cluster, pods.ds, 'v1', DS_PORT, 'daemon v1');
    const ds = await p2Json<{ id: string; nodeSelector: string }>([
      'ds',
      'create',
      '-m',
      v1,
      '-n',
      'availability_zone in (a,b)',
      '--min-health',
      '1',
      '--cluster-name',
      'p2t',
      '--timeout',
      '30s',
    ]);
    const twoZones = allNodes().slice(0, 2);
    await waitFor(
      'the daemon set healthy on the hosts of zones a and b',
      async () => JSON.stringify(await healthyNodes(pods.ds)) === JSON.stringify(twoZones),
      60_000,
      500,
    );
    expect(await greetings(cluster, DS_PORT)).toEqual(['daemon v1', 'daemon v1', '']);
    const test = await p2Json<{ matching: string[]; added: string[]; removed: string[] }>([
      'ds',
      'test-selector',
      'role=web',
      '--ds',
      ds.id,
    ]);
    expect(test).toMatchObject({ matching: allNodes(), added: [allNodes()[2]], removed: [] });
    const { path: v2 } = await manifestFile(cluster, pods.ds, 'v2', DS_PORT, 'daemon v2');
    const updated = await p2Json<{ ds: { nodeSelector: string }; changed: string[] }>([
      'ds',
      'update',
      ds.id,
      '-m',
      v2,
      '--selector',
      'role=web',
    ]);
    expect(updated.changed.sort()).toEqual(['manifest', 'nodeSelector']);
    expect(updated.ds.nodeSelector).toBe('role=web');
    await waitFor(
      'every host to serve daemon v2',
      async () => (await greetings(cluster, DS_PORT)).every((g) => g === 'daemon v2'),
      90_000,
      500,
    );
    await waitFor(
      'p2 inspect to show the daemon set converged and passing on every host',
      async () => (await healthyNodes(pods.ds)).length === 3,
      30_000,
      500,
    );
  });

  it('p2 replicate --hosts … --min-nodes 1 --json deploys a pod to the three hosts', async () => {
    const { path: file } = await manifestFile(cluster, pods.rep, 'v1', REP_PORT, 'replicated');
    const result = await p2Json<{ podId: string; updated: string[]; alreadyDone: string[] }>(
      ['replicate', file, '--hosts', allNodes().join(','), '--min-nodes', '1', '--timeout', '60s'],
      100_000,
    );
    expect(result.podId).toBe(pods.rep);
    expect([...result.updated].sort()).toEqual(allNodes());
    expect(result.alreadyDone).toEqual([]);
    expect(await greetings(cluster, REP_PORT)).toEqual(['replicated', 'replicated', 'replicated']);
    // A second run finds every node done.
    const again = await p2Json<{ updated: string[]; alreadyDone: string[] }>(
      ['replicate', file, '--hosts', allNodes().join(','), '--min-nodes', '1'],
      60_000,
    );
    expect(again.updated).toEqual([]);
    expect([...again.alreadyDone].sort()).toEqual(allNodes());
  });

  it('p2 pc create|get|list|delete, and p2 pc watch prints a line per membership change', async () => {
    const [n0, n1] = allNodes();
    const member = (node: string | undefined) => `${node}/${pods.rep}`;
    const labels = ['availability_zone=a', 'cluster_name=blue', `pod_id=${pods.rep}`];
    await p2Json(['label', 'set', 'pod', member(n0), ...labels]);
    const identity = ['--pod', pods.rep, '--az', 'a', '--cluster-name', 'blue'];
    const pc = await p2Json<{ id: string; podSelector: string }>(['pc', 'create', ...identity]);
    expect(pc.podSelector).toBe(`availability_zone=a,cluster_name=blue,pod_id=${pods.rep}`);
    expect((await p2Json<{ id: string }>(['pc', 'get', pc.id])).id).toBe(pc.id);
    const byName = await p2Json<{ id: string }>(['pc', 'get', ...identity]);
    expect(byName.id).toBe(pc.id);
    expect((await p2Json<Array<{ id: string }>>(['pc', 'list'])).map((p) => p.id)).toEqual([pc.id]);

    const watch = start(['pc', 'watch', pc.id]);
    let stderr = '';
    watch.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => watch.once('exit', resolve));
    const lines: Array<{ id: string; cluster: unknown; members: Array<{ id: string }> }> = [];
    createInterface({ input: watch.stdout }).on('line', (l) => lines.push(JSON.parse(l)));
    const nextLine = async (what: string, count: number) => {
      await waitFor(`p2 pc watch to print ${what}`, async () => lines.length >= count, 20_000);
      const line = lines[count - 1];
      if (!line) throw new Error('no line');
      return { ...line, ids: line.members.map((m) => m.id).sort() };
    };

    const first = await nextLine('the members', 1).catch((e: unknown) => {
      throw new Error(`${String(e)}; stderr: ${stderr}`);
    });
    expect(first).toMatchObject({ id: pc.id, cluster: { id: pc.id, name: 'blue' } });
    expect(first.ids).toEqual([member(n0)]);

    await p2Json(['label', 'set', 'pod', member(n1), ...labels]);
    expect((await nextLine('the labelled member', 2)).ids).toEqual([member(n0), member(n1)].sort());

    await p2Json(['label', 'rm', 'pod', member(n0), 'cluster_name']);
    expect((await nextLine('the unlabelled member gone', 3)).ids).toEqual([member(n1)]);

    const deleted = await p2(['pc', 'delete', pc.id, '--json']);
    expect(deleted.code, deleted.err).toBe(0);
    const last = await nextLine('the deleted cluster', 4);
    expect(last).toMatchObject({ id: pc.id, cluster: null, members: [] });
    expect(await exited).toBe(0);
    expect(lines).toHaveLength(4);
    expect((await p2(['pc', 'get', pc.id, '--json'])).code).toBe(4);
    expect(await p2Json<unknown[]>(['pc', 'list'])).toEqual([]);
  });
});
