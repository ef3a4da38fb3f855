import { MAX_TXN_OPS } from '@p2/kv';
import { LabelsError, Selector } from '@p2/labels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabelStore } from './label-store.js';
import { rawValue, startTestStore, type TestStore } from './test-support.js';

let t: TestStore;
let labels: LabelStore;

beforeAll(async () => {
  t = await startTestStore();
  labels = new LabelStore(t.store);
});
afterAll(async () => {
  await t?.cleanup();
});

const raw = (key: string) => rawValue(t.store, key);

describe('LabelStore against a real kv-server', () => {
  it('sets, merges and reads labels in P2 layout', async () => {
    await labels.setLabels('node', 'p2t-n1', { role: 'web', availability_zone: 'us-west' });
    await labels.setLabel('node', 'p2t-n1', 'rack', 'r1');
    expect(await raw('labels/node/p2t-n1')).toBe(
      '{"availability_zone":"us-west","rack":"r1","role":"web"}',
    );
    const got = await labels.get('node', 'p2t-n1');
    expect(got.labels).toEqual({ availability_zone: 'us-west', rack: 'r1', role: 'web' });
    expect(got.index).toBeGreaterThan(0);
  });

  it('pod label ids keep their slash', async () => {
    await labels.setLabels('pod', 'p2t-n1/hello', { pod_id: 'hello' });
    expect(await raw('labels/pod/p2t-n1/hello')).toBe('{"pod_id":"hello"}');
    const pods = await labels.list('pod');
    expect(pods.map((p) => p.id)).toContain('p2t-n1/hello');
  });

  it('removing the last label deletes the record', async () => {
    await labels.setLabel('node', 'p2t-gone', 'a', '1');
    await labels.removeLabel('node', 'p2t-gone', 'a');
    expect(await raw('labels/node/p2t-gone')).toBeUndefined();
    expect((await labels.get('node', 'p2t-gone')).index).toBe(0);
  });

  it('selects by selector', async () => {
    await labels.setLabels('node', 'p2t-s1', { role: 'db', zone: 'a' });
    await labels.setLabels('node', 'p2t-s2', { role: 'db', zone: 'b' });
    await labels.setLabels('node', 'p2t-s3', { role: 'web', zone: 'b' });
    const ids = async (s: string) =>
      (await labels.select('node', s)).map((r) => r.id).filter((id) => id.startsWith('p2t-s'));
    expect(await ids('role=db')).toEqual(['p2t-s1', 'p2t-s2']);
    expect(await ids('zone in (b),role!=db')).toEqual(['p2t-s3']);
    expect(await ids('!zone')).toEqual([]);
    expect((await labels.select('node', Selector.nothing())).length).toBe(0);
    expect(await labels.select('rolls', '')).toEqual([]);
  });

  it('changes every entity a selector picks (selectIds + applyEach)', async () => {
    await labels.setLabels('rolls', 'p2t-sel-b', { tier: 'sel', keep: 'x' });
    await labels.setLabels('rolls', 'p2t-sel-a', { tier: 'sel' });
    const ids = await labels.selectIds('rolls', 'tier=sel');
    expect(ids).toEqual(['p2t-sel-a', 'p2t-sel-b']);
    expect(await labels.applyEach('rolls', ids, { set: { zone: 'a' } })).toEqual([
      { type: 'rolls', id: 'p2t-sel-a', labels: { tier: 'sel', zone: 'a' } },
      { type: 'rolls', id: 'p2t-sel-b', labels: { keep: 'x', tier: 'sel', zone: 'a' } },
    ]);
    expect(await labels.applyEach('rolls', ['p2t-sel-b'], { remove: ['zone'] })).toEqual([
      { type: 'rolls', id: 'p2t-sel-b', labels: { keep: 'x', tier: 'sel' } },
    ]);
    expect(await labels.applyEach('rolls', ids, { removeAll: true })).toEqual([
      { type: 'rolls', id: 'p2t-sel-a', labels: {} },
      { type: 'rolls', id: 'p2t-sel-b', labels: {} },
    ]);
    expect(await labels.selectIds('rolls', 'tier=sel')).toEqual([]);
  });

  it("concurrent writers never lose each other's labels (GET + CAS, retried)", async () => {
    const writers = Array.from({ length: 12 }, (_, i) =>
      new LabelStore(t.store, { casRetries: 50 }).setLabel('node', 'p2t-race', `k${i}`, `v${i}`),
    );
    await Promise.all(writers);
    const got = await labels.get('node', 'p2t-race');
    expect(Object.keys(got.labels).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `k${i}`).sort(),
    );
  });

  it('gives up with P2_LABELS_CAS_CONFLICT when retries are exhausted', async () => {
    await labels.setLabel('node', 'p2t-hot', 'a', '0');
    const stubborn = new LabelStore(t.store, { casRetries: 0 });
    // Interleave: a competing write lands between our read and our CAS.
    const original = t.store.cas.bind(t.store);
    let interfered = false;
    const racing = Object.create(t.store, {
      cas: {
        value: async (key: string, value: string, index: number) => {
          if (!interfered) {
            interfered = true;
            await original(key, '{"a":"other"}', index);
          }
          return original(key, value, index);
        },
      },
    });
    const s = new LabelStore(racing, { casRetries: 0 });
    await expect(s.setLabel('node', 'p2t-hot', 'b', '1')).rejects.toMatchObject({
      code: 'P2_LABELS_CAS_CONFLICT',
    });
    expect((await stubborn.get('node', 'p2t-hot')).labels).toEqual({ a: 'other' });
  });

  it('validates keys and values it writes', async () => {
    await expect(labels.setLabel('node', 'p2t-n1', 'bad key', 'x')).rejects.toMatchObject({
      code: 'P2_LABELS_INVALID_KEY',
    });
    await expect(labels.setLabel('node', 'p2t-n1', 'ok', 'bad value')).rejects.toMatchObject({
      code: 'P2_LABELS_INVALID_VALUE',
    });
    await expect(labels.setLabel('nodes' as never, 'x', 'a', 'b')).rejects.toBeInstanceOf(
      LabelsError,
    );
  });

  it('skips an unreadable record in listings instead of failing them', async () => {
    await t.store.put('labels/node/p2t-corrupt', 'not json');
    const ids = (await labels.list('node')).map((r) => r.id);
    expect(ids).not.toContain('p2t-corrupt');
    expect(ids).toContain('p2t-n1');
    await expect(labels.get('node', 'p2t-corrupt')).rejects.toMatchObject({
      code: 'P2_LABELS_INVALID_RECORD',
    });
    await t.store.delete('labels/node/p2t-corrupt');
  });

  it('applies a large batch in transactions of at most 64 ops', async () => {
    const txnSizes: number[] = [];
    const counting = Object.create(t.store, {
      txn: {
        value: (ops: unknown[]) => {
          txnSizes.push(ops.length);
          return t.store.txn(ops as never);
        },
      },
    });
    const batchStore = new LabelStore(counting);
    const changes = Array.from({ length: 150 }, (_, i) => ({
      type: 'node' as const,
      id: `p2t-b${String(i).padStart(3, '0')}`,
      set: { fleet: 'batch', n: String(i) },
    }));
    expect(await batchStore.applyBatch(changes)).toBe(150);
    expect(txnSizes).toEqual([64, 64, 22]);
    expect(txnSizes.every((n) => n <= MAX_TXN_OPS)).toBe(true);
    const selected = await labels.select('node', 'fleet=batch');
    expect(selected).toHaveLength(150);
    // Merged changes on one record, including removal, in a second batch.
    await batchStore.applyBatch([
      { type: 'node', id: 'p2t-b000', remove: ['n'] },
      { type: 'node', id: 'p2t-b000', set: { extra: 'y' } },
      ...changes.slice(1).map((c) => ({ type: 'node' as const, id: c.id, remove: ['fleet', 'n'] })),
    ]);
    expect((await labels.get('node', 'p2t-b000')).labels).toEqual({ fleet: 'batch', extra: 'y' });
    expect(await raw('labels/node/p2t-b001')).toBeUndefined();
  });
});
