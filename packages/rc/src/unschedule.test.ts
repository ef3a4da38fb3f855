import { LabelStore, PodTree, UuidPodStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestText, startTestStore } from '../../controller-kit/src/test-support.js';
import { RcStore } from './rcstore.js';
import { unschedulePod } from './unschedule.js';

let store: Store;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ store, cleanup } = await startTestStore());
});
afterAll(() => cleanup());

const manifest = (id: string) => parseManifest(manifestText(id));
const exists = async (key: string) => (await store.get(key)).value !== undefined;

describe('unschedulePod: legacy pods', () => {
  it('removes intent and labels; says absent when nothing is scheduled', async () => {
    await new PodTree(store, 'intent').setPod('n1', manifest('p2t-plain'));
    await new LabelStore(store).setLabels('pod', 'n1/p2t-plain', { team: 'a' });
    const done = await unschedulePod(store, { pod: 'p2t-plain', node: 'n1', user: 'u' });
    expect(done).toEqual({
      outcome: 'removed',
      podId: 'p2t-plain',
      uniqueKey: '',
      node: 'n1',
      removed: ['intent/n1/p2t-plain', 'labels/pod/n1/p2t-plain'],
    });
    expect(await exists('labels/pod/n1/p2t-plain')).toBe(false);
    expect(await unschedulePod(store, { pod: 'p2t-plain', node: 'n1', user: 'u' })).toEqual({
      outcome: 'absent',
      podId: 'p2t-plain',
      uniqueKey: '',
      node: 'n1',
    });
  });

  it('refuses a pod a replication controller placed, unless force or deallocate', async () => {
    const m = manifest('p2t-owned');
    const rc = await new RcStore(store).create({
      manifest: m,
      nodeSelector: '',
      replicasDesired: 2,
    });
    for (const node of ['n1', 'n2']) {
      await new PodTree(store, 'intent').setPod(node, m);
      await new LabelStore(store).setLabels('pod', `${node}/p2t-owned`, {
        replication_controller_id: rc.id,
      });
    }
    const request = { pod: 'p2t-owned', node: 'n1', user: 'u' };
    expect(await unschedulePod(store, request)).toEqual({
      outcome: 'owned',
      podId: 'p2t-owned',
      node: 'n1',
      rc: rc.id,
    });
    expect(await exists('intent/n1/p2t-owned')).toBe(true);

    const forced = await unschedulePod(store, { ...request, force: true });
    expect(forced).toMatchObject({
      outcome: 'removed',
      removed: ['intent/n1/p2t-owned', 'labels/pod/n1/p2t-owned'],
    });
    expect((await new RcStore(store).get(rc.id)).rc.replicasDesired).toBe(2);

    const deallocated = await unschedulePod(store, { ...request, node: 'n2', deallocate: true });
    expect(deallocated).toMatchObject({
      outcome: 'removed',
      node: 'n2',
      rc: { id: rc.id, replicasDesired: 1 },
    });
    expect(await exists('intent/n2/p2t-owned')).toBe(false);
  });

  it('refuses a pod whose controller is gone (an orphan) unless removeOrphan', async () => {
    await new PodTree(store, 'intent').setPod('n5', manifest('p2t-orphan'));
    const gone = '5a1e0f55-0000-4000-8000-000000000000';
    await new LabelStore(store).setLabels('pod', 'n5/p2t-orphan', {
      replication_controller_id: gone,
    });
    const request = { pod: 'p2t-orphan', node: 'n5', user: 'u' };
    for (const extra of [{}, { deallocate: true }]) {
      expect(await unschedulePod(store, { ...request, ...extra })).toEqual({
        outcome: 'orphan',
        podId: 'p2t-orphan',
        node: 'n5',
        rc: gone,
      });
    }
    expect(await exists('intent/n5/p2t-orphan')).toBe(true);
    expect(
      await unschedulePod(store, { ...request, deallocate: true, removeOrphan: true }),
    ).toMatchObject({
      outcome: 'removed',
      removed: ['intent/n5/p2t-orphan', 'labels/pod/n5/p2t-orphan'],
    });
    expect(await exists('labels/pod/n5/p2t-orphan')).toBe(false);
  });
});

describe('unschedulePod: uuid pods', () => {
  it('removes the pod and its intent index, on its own node only', async () => {
    const uuid = await new UuidPodStore(store).schedule('n3', manifest('p2t-uuid'));
    expect(await unschedulePod(store, { pod: uuid.toUpperCase(), node: 'n4', user: 'u' })).toEqual({
      outcome: 'other-node',
      podId: uuid,
      node: 'n3',
    });
    const done = await unschedulePod(store, { pod: uuid, user: 'u' });
    expect(done).toEqual({
      outcome: 'removed',
      podId: uuid,
      uniqueKey: uuid,
      node: 'n3',
      removed: [`pods/${uuid}`, `intent/n3/${uuid}`],
    });
    expect(await unschedulePod(store, { pod: uuid, user: 'u' })).toEqual({
      outcome: 'absent',
      podId: uuid,
      uniqueKey: uuid,
    });
  });
});
