import { Selector } from '@p2/labels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabelStore } from './label-store.js';
import {
  decodePodCluster,
  encodePodCluster,
  type PodClusterMembership,
  type PodClusterRecord,
  PodClusterStore,
} from './pod-clusters.js';
import { rawValue, startTestStore, type TestStore } from './test-support.js';

let t: TestStore;
let pcs: PodClusterStore;
let labels: LabelStore;

beforeAll(async () => {
  t = await startTestStore();
  pcs = new PodClusterStore(t.store);
  labels = new LabelStore(t.store);
});
afterAll(async () => {
  await t?.cleanup();
});

const raw = (key: string) => rawValue(t.store, key);

const sample: PodClusterRecord = {
  id: '0f8fad5b-d9cb-469f-a165-70867728950e',
  podId: 'web',
  availabilityZone: 'az1',
  name: 'blue',
  podSelector: Selector.parse('pod_id=web,cluster_name=blue,availability_zone=az1'),
  annotations: { lb: { z: 1, a: '<x>', '10': true, '9': [1.5, null] }, port: 8080 },
  allocationStrategy: 'static_strategy',
  minHealthPercentage: 0,
};

describe('pod cluster codec', () => {
  it("writes P2's JSON byte for byte (field order, Go escaping, map keys in byte order)", () => {
    // What Go's json.Marshal of pcfields.PodCluster writes (annotations map[string]interface{}).
    expect(encodePodCluster(sample)).toBe(
      '{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","pod_id":"web","availability_zone":"az1","name":"blue",' +
        '"pod_selector":"availability_zone=az1,cluster_name=blue,pod_id=web",' +
        '"annotations":{"lb":{"10":true,"9":[1.5,null],"a":"\\u003cx\\u003e","z":1},"port":8080},' +
        '"allocation_strategy":"static_strategy","min_health_percentage":0}',
    );
  });

  it('reads back what it writes, and a P2 record with null annotations', () => {
    const back = decodePodCluster(encodePodCluster(sample));
    expect({ ...back, podSelector: back.podSelector.toString() }).toEqual({
      ...sample,
      podSelector: sample.podSelector.toString(),
    });
    const p2 = decodePodCluster(
      '{"id":"x","pod_id":"a","availability_zone":"b","name":"c","pod_selector":"","annotations":null,"allocation_strategy":"dynamic_strategy","min_health_percentage":50}',
    );
    expect(p2.annotations).toEqual({});
    expect(p2.minHealthPercentage).toBe(50);
  });

  it('refuses a record without an id or with a bad selector, naming the key', () => {
    expect(() => decodePodCluster('{"pod_id":"a"}', 'pod_clusters/x')).toThrow(
      /pod_clusters\/x.*"id"/,
    );
    expect(() => decodePodCluster('{"id":"x","pod_selector":"a in"}')).toThrow(
      expect.objectContaining({ code: 'P2_KV_BAD_RECORD' }),
    );
  });
});

describe('PodClusterStore on a real kv-server', () => {
  it('creates with the default selector and labels; one cluster per pod id + az + name', async () => {
    const pc = await pcs.create({
      podId: 'p2t-web',
      availabilityZone: 'az1',
      name: 'blue',
      annotations: { lb: 'x' },
      user: 'ops',
    });
    expect(await raw(`pod_clusters/${pc.id}`)).toBe(encodePodCluster(pc));
    expect(pc.podSelector.toString()).toBe(
      'availability_zone=az1,cluster_name=blue,pod_id=p2t-web',
    );
    expect(await raw(`labels/pod_clusters/${pc.id}`)).toBe(
      '{"availability_zone":"az1","cluster_name":"blue","pod_id":"p2t-web"}',
    );
    await expect(
      pcs.create({ podId: 'p2t-web', availabilityZone: 'az1', name: 'blue' }),
    ).rejects.toMatchObject({ code: 'P2_KV_ALREADY_EXISTS', details: { id: pc.id } });
    // Another name in the same az is another cluster; the creation lock is gone again.
    const green = await pcs.create({ podId: 'p2t-web', availabilityZone: 'az1', name: 'green' });
    expect(await raw('lock/p2t-web/az1/blue')).toBeUndefined();
    expect((await pcs.find('p2t-web', 'az1', 'blue'))?.id).toBe(pc.id);
    expect((await pcs.find('p2t-web', 'az1', 'green'))?.id).toBe(green.id);
    expect(await pcs.find('p2t-web', 'az2', 'blue')).toBeUndefined();
    const ids = (await pcs.list()).map((p) => p.id);
    expect(ids).toEqual(expect.arrayContaining([pc.id, green.id]));
  });

  it('updates by read-CAS and deletes record and labels', async () => {
    const pc = await pcs.create({ podId: 'p2t-upd', availabilityZone: 'az1', name: 'c' });
    const updated = await pcs.update(pc.id, {
      annotations: { weight: 2 },
      podSelector: Selector.parse('pod_id=p2t-upd'),
    });
    expect(updated.annotations).toEqual({ weight: 2 });
    const got = await pcs.get(pc.id);
    expect(got.podSelector.toString()).toBe('pod_id=p2t-upd');
    expect(got.name).toBe('c');
    await pcs.delete(pc.id);
    expect(await raw(`pod_clusters/${pc.id}`)).toBeUndefined();
    expect(await raw(`labels/pod_clusters/${pc.id}`)).toBeUndefined();
    await expect(pcs.get(pc.id)).rejects.toMatchObject({ code: 'P2_KV_NOT_FOUND' });
    await expect(pcs.delete(pc.id)).rejects.toMatchObject({ code: 'P2_KV_NOT_FOUND' });
    await expect(pcs.get('../x')).rejects.toMatchObject({ code: 'P2_KV_INVALID_KEY' });
  });

  it('refuses identities that are not single key segments or label values', async () => {
    await expect(
      pcs.create({ podId: 'a/b', availabilityZone: 'az1', name: 'c' }),
    ).rejects.toMatchObject({ code: 'P2_KV_INVALID_KEY' });
    await expect(
      pcs.create({ podId: 'p2t-x', availabilityZone: 'az1', name: 'bad,name' }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^P2_LABELS_/) });
  });

  it('watchMembers emits the member set on every change of pod labels or selector', async () => {
    const pc = await pcs.create({ podId: 'p2t-lb', availabilityZone: 'az1', name: 'blue' });
    const member = { pod_id: 'p2t-lb', availability_zone: 'az1', cluster_name: 'blue' };
    await labels.setLabels('pod', 'p2t-h1/p2t-lb', member);
    const controller = new AbortController();
    const seen: string[][] = [];
    let last: PodClusterMembership | undefined;
    const steps: (() => Promise<unknown>)[] = [
      () => labels.setLabels('pod', 'p2t-h2/p2t-lb', member),
      // Changes that keep the member set are no answer; the removal after them is.
      async () => {
        await labels.setLabel('pod', 'p2t-h1/p2t-lb', 'extra', 'x');
        await labels.setLabels('pod', 'p2t-h3/p2t-lb', { ...member, cluster_name: 'green' });
        await labels.removeLabel('pod', 'p2t-h1/p2t-lb', 'cluster_name');
      },
      () => pcs.update(pc.id, { podSelector: Selector.parse('pod_id=p2t-lb') }),
      () => pcs.delete(pc.id),
    ];
    for await (const m of pcs.watchMembers(pc.id, { signal: controller.signal })) {
      seen.push(m.members.map((p) => p.id));
      last = m;
      const step = steps.shift();
      if (step) await step();
    }
    expect(seen).toEqual([
      ['p2t-h1/p2t-lb'],
      ['p2t-h1/p2t-lb', 'p2t-h2/p2t-lb'],
      ['p2t-h2/p2t-lb'],
      ['p2t-h1/p2t-lb', 'p2t-h2/p2t-lb', 'p2t-h3/p2t-lb'],
      [],
    ]);
    expect(last?.cluster).toBeUndefined();
  });

  it('watchMembers of a missing cluster fails with P2_KV_NOT_FOUND and stops on abort', async () => {
    const missing = pcs.watchMembers('0f8fad5b-d9cb-469f-a165-000000000000');
    await expect(missing.next()).rejects.toMatchObject({ code: 'P2_KV_NOT_FOUND' });
    const pc = await pcs.create({ podId: 'p2t-ab', availabilityZone: 'az1', name: 'c' });
    const controller = new AbortController();
    const answers: number[] = [];
    for await (const m of pcs.watchMembers(pc.id, { signal: controller.signal })) {
      answers.push(m.members.length);
      controller.abort();
    }
    expect(answers).toEqual([0]);
  });
});
