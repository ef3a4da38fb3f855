import { StoreHealthSource } from '@p2/controller-kit';
import { encodeHealthRecord, healthKey, LabelStore, realityKey } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { RcStore, rcCurrentPods } from '@p2/rc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  manifestText,
  startTestStore,
  type TestStore,
} from '../../controller-kit/src/test-support.js';
import { countReplicas } from './count.js';

let t: TestStore;

beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await t?.cleanup();
});

describe('countReplicas: the health gate', () => {
  it('counts a passing record only when it was written after the reality entry', async () => {
    const pod = 'p2t-gate';
    const node = 'p2t-gate-n1';
    const labels = new LabelStore(t.store);
    await labels.setLabel('node', node, 'fleet', 'gate');
    const rcs = new RcStore(t.store);
    const v2 = parseManifest(manifestText(pod, 'v2'));
    const rc = await rcs.create({ manifest: v2, nodeSelector: 'fleet=gate', clusterName: 'c1' });
    await labels.setLabel('pod', `${node}/${pod}`, 'replication_controller_id', rc.id);
    const health = new StoreHealthSource(t.store);
    const passing = (time: Date) =>
      encodeHealthRecord({ podId: pod, node, status: 'passing', time });
    const count = async () =>
      countReplicas(t.store, await rcCurrentPods(labels, rc.id), rc, await health.podHealth(pod));

    // The old version's passing record, then the new version's reality: the record is stale.
    await t.store.put(healthKey(pod, node), passing(new Date()));
    await t.store.put(realityKey(node, pod), v2.raw);
    expect(await count()).toMatchObject({ current: 1, real: 1, healthy: 0, unknown: 1 });

    // A record written after the reality entry counts.
    await t.store.put(healthKey(pod, node), passing(new Date(Date.now() + 1)));
    expect(await count()).toMatchObject({ current: 1, real: 1, healthy: 1, unknown: 0 });
  });
});
