/**
 * Issue 21 on the three-host namespace setup: a metric-gated roll. Each host's preparer scrapes its
 * new replica's `/metrics` and soaks the gate; the roll farm moves on only after a replica passed,
 * and a version whose error ratio crosses the threshold (while its status check still passes) stops
 * the roll, which rolls back after that one host. Needs root.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GateReportStore } from '@p2/keyspace';
import { beforeAll, describe, expect, it } from 'vitest';
import { p2Runner } from '../src/cli.js';
import {
  type Cluster,
  helloManifest,
  pollApps,
  QUICK_CONTROLLER_ARGS,
  startCluster,
  startControllersProcess,
  tearDownClusterAfterAll,
  waitForPreparers,
} from '../src/multi-host.js';
import { type Proc, waitFor } from '../src/processes.js';

const APP_PORT = 18380;
const GATE = 'hello_errors_total / hello_requests_total < 0.05';
let cluster: Cluster;
let controllers: Proc | undefined;
let poller: ReturnType<typeof pollApps> | undefined;
let pod = '';
const { p2, p2Json, killAll } = p2Runner(() => cluster.storeUrl);

/** `p2 rc create` of the hello app at `version` with `error_ratio`, on this test's nodes. */
async function createRc(version: string, errorRatio: number, ...more: string[]) {
  const manifest = helloManifest(
    cluster,
    pod,
    await cluster.artifact(version),
    APP_PORT,
    `hello ${version}`,
    APP_PORT,
    { error_ratio: errorRatio },
  );
  const file = join(cluster.work, `${pod}-${version}.yaml`);
  await writeFile(file, manifest.text());
  const rc = await p2Json<{ id: string }>([
    'rc',
    'create',
    '-m',
    file,
    '-n',
    `gate=${pod}`,
    ...more,
  ]);
  return { id: rc.id, sha: manifest.sha() };
}

function rollArgs(oldRc: string, newRc: string): string[] {
  return [
    'roll',
    'start',
    '--old',
    oldRc,
    '--new',
    newRc,
    '-d',
    '3',
    '--minimum',
    '2',
    '--gate',
    GATE,
    '--soak',
    '3s',
    '--rollback',
    '--wait',
    '--poll',
    '500ms',
  ];
}

beforeAll(async () => {
  cluster = await startCluster(3);
  pod = `p2t-gate-${cluster.id}`;
  await cluster.createPodUser(pod);
  await waitForPreparers(cluster);
  for (const h of cluster.hosts) {
    const r = await p2(['label', 'set', 'node', h.node, `gate=${pod}`]);
    expect(r.code, r.err).toBe(0);
  }
  controllers = startControllersProcess(
    cluster.storeUrl,
    `${cluster.work}/logs`,
    QUICK_CONTROLLER_ARGS,
  );
});

tearDownClusterAfterAll(() => ({ cluster, controllers, poller }), { killAll });

describe('a metric-gated rolling update on three hosts', () => {
  it('moves on as each replica passes its soak, and stops and rolls back when the error ratio crosses the threshold', async () => {
    const v1 = await createRc('v1', 0, '-r', '3');
    poller = pollApps(cluster, APP_PORT);
    await waitFor(
      'v1 serving on every host',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v1'),
      90_000,
    );

    // v2 is good: every replica soaks the gate (its preparer reports `soaking`, then `passed`).
    const v2 = await createRc('v2', 0, '--disabled');
    const goodFrom = Date.now();
    const good = await p2(rollArgs(v1.id, v2.id), 150_000);
    const goodMs = Date.now() - goodFrom;
    expect(good.code, `${good.out}\n${good.err}`).toBe(0);
    expect(good.out).toContain('soaking the metric gate');
    expect(good.out).toContain(`rolling update ${v2.id} succeeded`);
    const gates = new GateReportStore(cluster.store);
    for (const h of cluster.hosts)
      expect(await gates.get(h.node, pod)).toMatchObject({
        sha: v2.sha,
        roll: v2.id,
        state: 'passed',
        value: 0,
      });
    await waitFor(
      'v2 serving on every host',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v2'),
      30_000,
    );

    // v3 passes its status check, but half its requests are errors: the first host's preparer
    // fails the gate, and the roll rolls back without touching the other two.
    const v3 = await createRc('v3', 0.5, '--disabled');
    const from = Date.now();
    const bad = await p2(rollArgs(v2.id, v3.id), 150_000);
    const badMs = Date.now() - from;
    expect(bad.code, `${bad.out}\n${bad.err}`).toBe(1);
    expect(bad.out).toContain(`rolling update ${v3.id} rolled back`);
    const status = await p2Json<{ status: { state: string; message: string } }>([
      'roll',
      'status',
      v3.id,
    ]);
    expect(status.status.state).toBe('rolled_back');
    expect(status.status.message).toMatch(
      new RegExp(
        `^the metric gate failed on (\\S+) \\(${GATE.replace(/[/.]/g, '\\$&')} does not hold: the value is 0\\.\\d+\\); rolled back to RC ${v2.id}$`,
      ),
    );
    const failedOn = /failed on (\S+) /.exec(status.status.message)?.[1];
    const report = await gates.get(failedOn!, pod);
    expect(report).toMatchObject({ sha: v3.sha, roll: v3.id, state: 'failed' });
    expect(report!.value).toBeGreaterThan(0.3);
    await waitFor(
      'v2 serving on every host again',
      async () => poller?.latest().every((s) => s?.greeting === 'hello v2'),
      60_000,
    );
    const servedV3 = new Set(
      (poller?.samples ?? [])
        .filter((s) => s.t >= from && s.greeting === 'hello v3')
        .map((s) => s.host),
    );
    expect(servedV3.size).toBeLessThanOrEqual(1);
    console.log(
      `[metric gate figures] 3 hosts, 3 s soak, one replica at a time: good roll ${goodMs} ms; bad roll to rolled back ${badMs} ms`,
    );
  });
});
