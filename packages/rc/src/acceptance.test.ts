/**
 * The controller parts of P2's acceptance scenario (spec 03 §7.3, assertions 1 and 5), against a
 * real kv-server with a real RC farm. The host parts (runit service, health, cgroups) belong to the
 * end-to-end suite.
 */
import { hostname } from 'node:os';
import { LabelStore } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  startTestStore,
  type TestStore,
  text,
} from '../../controller-kit/src/test-support.js';
import { RcFarm } from './farm.js';
import { RcStore } from './rcstore.js';

let t: TestStore;
beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await t?.cleanup();
});

const HELLO = `id: hello
status_port: 43770
status_http: true
launchables:
  hello:
    launchable_type: hoist
    location: file:///integration/hoisted-hello_def456.tar.gz
config:
  port: 43770
resource_limits:
  cgroup:
    cpus: 1
    memory: 1073741824
`;

describe("P2's acceptance scenario, controller parts", () => {
  it('1: an RC with replicas 1 schedules hello on the node labelled test=yes, exactly once', async () => {
    const store = t.store;
    const labels = new LabelStore(store);
    const rcs = new RcStore(store);
    const node = `p2t-${hostname()}`.slice(0, 60);
    const rc = await rcs.create({
      manifest: parseManifest(HELLO),
      nodeSelector: 'test=yes',
      availabilityZone: 'some_az',
      clusterName: 'some_cn',
      allocationStrategy: 'some_strategy',
    });
    await rcs.setDesiredReplicas(rc.id, 1);
    const farm = new RcFarm(
      { store },
      { sessionTtlMs: 10_000, lockDelayMs: 0, pollMs: 500, resyncMs: 500 },
    ).start();
    try {
      await labels.setLabel('node', node, 'test', 'yes');
      await labels.setLabel('pod', `${node}/some_pod`, 'test', 'yes');
      await eventually(
        async () => (await labels.select('pod', `replication_controller_id=${rc.id}`)).length === 1,
        30_000,
      );
      const matches = await labels.select('pod', `replication_controller_id=${rc.id}`);
      expect(matches.map((m) => m.id)).toEqual([`${node}/hello`]);
      expect(matches[0]!.labels).toEqual({
        availability_zone: 'some_az',
        cluster_name: 'some_cn',
        pod_id: 'hello',
        replication_controller_id: rc.id,
      });
      expect(await text(store, `intent/${node}/hello`)).toBe(HELLO);
      // The dummy pod label stays untouched.
      expect((await labels.get('pod', `${node}/some_pod`)).labels).toEqual({ test: 'yes' });
    } finally {
      await farm.stop();
    }
  });

  it('5: a transactional replica transfer (+1 to, −2 from, expecting 0 and 4) leaves 2 and 1', async () => {
    const rcs = new RcStore(t.store);
    const make = () =>
      rcs.create({
        manifest: parseManifest('id: some_pod\n'),
        nodeSelector: '',
        availabilityZone: 'some_az',
        clusterName: 'some_cn',
        allocationStrategy: 'some_strategy',
      });
    const first = await make();
    const second = await make();
    await rcs.setDesiredReplicas(first.id, 4);
    const ops = await rcs.transferOps({
      to: second.id,
      from: first.id,
      add: 1,
      remove: 2,
      startingTo: 0,
      startingFrom: 4,
    });
    expect((await t.store.txn(ops)).committed).toBe(true);
    expect((await rcs.get(first.id)).rc.replicasDesired).toBe(2);
    expect((await rcs.get(second.id)).rc.replicasDesired).toBe(1);
  });
});
