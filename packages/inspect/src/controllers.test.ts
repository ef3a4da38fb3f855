import { DsStore } from '@p2/daemon-set';
import { encodeRollStatus, LabelStore, rollStatusKey } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { Selector } from '@p2/labels';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { RollStore } from '@p2/roll';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  entityLabels,
  inspectDaemonSet,
  inspectRc,
  inspectRolls,
  listDaemonSets,
  listRcs,
  queryLabels,
} from './index.js';
import { startTestStore } from './test-support.js';

const web = parseManifest('id: p2t-web\nconfig:\n  v: 1\n');
const api = parseManifest('id: p2t-api\n');

let store: Store;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ store, cleanup } = await startTestStore());
});
afterAll(async () => {
  await cleanup();
});

describe('replication controllers', () => {
  it('lists them by pod id, and shows one with the nodes its pods are on', async () => {
    const rcs = new RcStore(store);
    const w = await rcs.create({
      id: 'rc-web',
      manifest: web,
      nodeSelector: 'role=web',
      podLabels: { tier: 'front' },
      replicasDesired: 2,
      topologySpreadKey: 'zone',
    });
    await rcs.create({ id: 'rc-api', manifest: api, nodeSelector: '', disabled: true });
    const labels = new LabelStore(store);
    for (const node of ['n2', 'n1']) {
      await labels.apply({
        type: 'pod',
        id: `${node}/p2t-web`,
        set: { replication_controller_id: w.id },
      });
    }

    const { rcs: views, errors } = await listRcs(store);
    expect(errors).toEqual([]);
    expect(views.map((v) => [v.podId, v.id, v.disabled])).toEqual([
      ['p2t-api', 'rc-api', true],
      ['p2t-web', 'rc-web', false],
    ]);
    expect(views[1]).toEqual({
      id: 'rc-web',
      podId: 'p2t-web',
      sha: web.sha(),
      nodeSelector: 'role=web',
      podLabels: { tier: 'front' },
      replicasDesired: 2,
      disabled: false,
      allocationStrategy: w.allocationStrategy,
      topologySpreadKey: 'zone',
      deployerSigned: false,
    });

    const { rc, manifest } = await inspectRc(store, 'rc-web');
    expect(rc.nodes).toEqual(['n1', 'n2']);
    expect(rc.nodeTransfer).toBeNull();
    expect(manifest.sha()).toBe(web.sha());
    await expect(inspectRc(store, 'rc-nope')).rejects.toMatchObject({ code: 'P2_RC_NOT_FOUND' });
  });
});

describe('rolling updates', () => {
  it('shows every update with its status, and a finished one by its status alone', async () => {
    await new RcStore(store).create({ id: 'rc-web-old', manifest: web, nodeSelector: 'role=web' });
    await new RollStore(store).create({
      oldRc: 'rc-web-old',
      newRc: 'rc-web',
      desiredReplicas: 2,
      minimumReplicas: 1,
    });
    const all = await inspectRolls(store);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ id: 'rc-web', roll: { oldRc: 'rc-web-old' }, status: null });

    const time = new Date().toISOString();
    await store.put(
      rollStatusKey('rc-gone'),
      encodeRollStatus({
        state: 'succeeded',
        message: 'finished',
        originalOldReplicas: 2,
        originalTotal: 2,
        startedAt: time,
        lastProgressAt: time,
        updatedAt: time,
      }),
    );
    const [gone] = await inspectRolls(store, 'rc-gone');
    expect(gone).toMatchObject({ id: 'rc-gone', roll: null, status: { state: 'succeeded' } });
    expect(await inspectRolls(store, 'rc-never')).toEqual([]);
  });
});

describe('daemon sets', () => {
  it('lists them and shows one with its status (null until the farm writes one)', async () => {
    const ds = await new DsStore(store).create({
      manifest: web,
      nodeSelector: 'role=web',
      minHealth: 1,
      clusterName: 'c1',
      timeoutMs: 60_000,
    });
    const [listed] = await listDaemonSets(store);
    expect(listed).toEqual({
      id: ds.id,
      podId: 'p2t-web',
      sha: web.sha(),
      nodeSelector: 'role=web',
      minHealth: 1,
      clusterName: 'c1',
      timeoutMs: 60_000,
      disabled: false,
      deployerSigned: false,
    });
    expect(await inspectDaemonSet(store, ds.id)).toEqual({ ...listed, status: null });
  });
});

describe('labels', () => {
  it('shows one entity (empty when unlabelled) and queries a type by selector, sorted by id', async () => {
    const labels = new LabelStore(store);
    await labels.apply({ type: 'node', id: 'h2', set: { role: 'web' } });
    await labels.apply({ type: 'node', id: 'h1', set: { role: 'web', zone: 'a' } });
    await labels.apply({ type: 'node', id: 'h3', set: { role: 'db' } });

    expect(await entityLabels(store, 'node', 'h1')).toEqual({
      type: 'node',
      id: 'h1',
      labels: { role: 'web', zone: 'a' },
    });
    expect(await entityLabels(labels, 'node', 'h9')).toEqual({
      type: 'node',
      id: 'h9',
      labels: {},
    });
    const web = await queryLabels(store, 'node', Selector.parse('role=web'));
    expect(web.map((v) => v.id)).toEqual(['h1', 'h2']);
  });
});
