import { LabelStore, lockKeys } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  intentNodes,
  manifestText,
  startTestStore,
  type TestStore,
} from '../../controller-kit/src/test-support.js';
import { RcFarm } from './farm.js';
import { RcStore } from './rcstore.js';

let t: TestStore;
const farms: RcFarm[] = [];

beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await Promise.all(farms.map((f) => f.stop()));
  await t?.cleanup();
});

describe('RcFarm', () => {
  it('two farms share the RCs through ownership locks; a stopped farm hands its RCs over', async () => {
    const labels = new LabelStore(t.store);
    const rcs = new RcStore(t.store);
    const nodes = ['p2t-farm-a', 'p2t-farm-b', 'p2t-farm-c'];
    for (const n of nodes) await labels.setLabel('node', n, 'fleet', 'farm');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const rc = await rcs.create({
        manifest: parseManifest(manifestText(`p2t-farm${i}`)),
        nodeSelector: 'fleet=farm',
        replicasDesired: 2,
      });
      ids.push(rc.id);
    }
    const errors: unknown[] = [];
    const opts = {
      sessionTtlMs: 10_000,
      lockDelayMs: 0,
      pollMs: 500,
      resyncMs: 500,
      onError: (e: unknown) => errors.push(e),
    };
    const a = new RcFarm({ store: t.store }, opts).start();
    const b = new RcFarm({ store: t.store }, opts).start();
    farms.push(a, b);

    await eventually(async () => a.owned.length + b.owned.length === 4);
    expect([...a.owned, ...b.owned].sort()).toEqual([...ids].sort());
    expect(a.owned.filter((id) => b.owned.includes(id))).toEqual([]);
    for (let i = 0; i < 4; i++) {
      await eventually(async () => (await intentNodes(t.store, `p2t-farm${i}`)).length === 2);
    }
    // The lock is held by the owning farm's session.
    const owner = a.owned.includes(ids[0]!) ? a : b;
    expect((await t.store.get(lockKeys.replicationController(ids[0]!))).value?.session).toBe(
      owner.session,
    );

    // A replica-count change reaches the owning worker.
    await rcs.setDesiredReplicas(ids[0]!, 3);
    await eventually(async () => (await intentNodes(t.store, 'p2t-farm0')).length === 3);

    // Stopping one farm releases its locks; the other takes its RCs over.
    const stopped = a.owned.length > 0 ? a : b;
    const survivor = stopped === a ? b : a;
    await stopped.stop();
    await eventually(async () => survivor.owned.length === 4);

    // Deleting an RC releases it.
    await rcs.setDesiredReplicas(ids[3]!, 0);
    await eventually(async () => (await intentNodes(t.store, 'p2t-farm3')).length === 0);
    await rcs.delete(ids[3]!);
    await eventually(async () => survivor.owned.length === 3);
    expect((await t.store.get(lockKeys.replicationController(ids[3]!))).value).toBeUndefined();
    expect(errors).toEqual([]);
    await survivor.stop();
  });

  it('a farm whose session dies stops its workers, then claims again with a new session', async () => {
    const labels = new LabelStore(t.store);
    const rcs = new RcStore(t.store);
    await labels.setLabel('node', 'p2t-sess-a', 'fleet', 'sess');
    const rc = await rcs.create({
      manifest: parseManifest(manifestText('p2t-sess')),
      nodeSelector: 'fleet=sess',
      replicasDesired: 1,
    });
    const farm = new RcFarm(
      { store: t.store },
      { sessionTtlMs: 2_000, lockDelayMs: 0, pollMs: 300, resyncMs: 300 },
    ).start();
    farms.push(farm);
    await eventually(async () => farm.owned.includes(rc.id));
    const first = farm.session!;
    await t.store.destroySession(first); // as if the store expired it
    expect((await t.store.get(lockKeys.replicationController(rc.id))).value).toBeUndefined();
    await eventually(
      async () =>
        farm.session !== undefined && farm.session !== first && farm.owned.includes(rc.id),
    );
    expect((await t.store.get(lockKeys.replicationController(rc.id))).value?.session).toBe(
      farm.session,
    );
    await farm.stop();
    expect((await t.store.get(lockKeys.replicationController(rc.id))).value).toBeUndefined();
  });
});
