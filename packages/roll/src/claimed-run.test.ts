/**
 * `runClaimedRollingUpdate` on a real store with real RC workers and simulated preparers: it takes
 * the roll farm's claim (`lock/rolls/<id>`) before it runs, and writes nothing while another session
 * holds it.
 */
import { LabelStore, lockKeys, rcKey, rollStatusKey } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { RcFarm, RcStore } from '@p2/rc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  manifestText,
  passingCount,
  simulatePreparers,
  startTestStore,
  type TestStore,
} from '../../controller-kit/src/test-support.js';
import { runClaimedRollingUpdate } from './claimed-run.js';
import { RollStore } from './roll-store.js';

let t: TestStore;

beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await t?.cleanup();
});

describe('runClaimedRollingUpdate', () => {
  it('is locked out while another session holds the claim, then runs under its own', async () => {
    const labels = new LabelStore(t.store);
    const rcs = new RcStore(t.store);
    for (const n of ['p2t-claim-n1', 'p2t-claim-n2'])
      await labels.setLabel('node', n, 'fleet', 'claim');
    const sim = simulatePreparers(t.store, { healthOf: () => 'passing' });
    const farm = new RcFarm(
      { store: t.store },
      { sessionTtlMs: 10_000, lockDelayMs: 0, pollMs: 100, resyncMs: 100 },
    ).start();
    try {
      const rc = (version: string, replicas: number) =>
        rcs.create({
          manifest: parseManifest(manifestText('p2t-claim', version)),
          nodeSelector: 'fleet=claim',
          replicasDesired: replicas,
          clusterName: 'c1',
          disabled: replicas === 0,
        });
      const oldRc = await rc('v1', 2);
      await eventually(async () => (await passingCount(t.store, 'p2t-claim')) === 2);
      const newRc = await rc('v2', 0);
      await new RollStore(t.store).create({
        oldRc: oldRc.id,
        newRc: newRc.id,
        desiredReplicas: 2,
        minimumReplicas: 1,
      });

      const holder = await t.store.createSession({ name: 'p2t-holder', lockDelayMs: 0 });
      expect(await t.store.acquire(lockKeys.roll(newRc.id), '', holder)).toBe(true);
      const newBefore = (await t.store.get(rcKey(newRc.id))).value?.modifyIndex;
      expect(await runClaimedRollingUpdate({ store: t.store }, newRc.id)).toEqual({
        outcome: 'locked',
        holder: 'p2t-holder',
      });
      expect((await t.store.get(rcKey(newRc.id))).value?.modifyIndex).toBe(newBefore);
      expect((await t.store.get(rollStatusKey(newRc.id))).value).toBeUndefined();

      await t.store.destroySession(holder);
      const claimants = new Set<string>();
      const result = await runClaimedRollingUpdate({ store: t.store }, newRc.id, {
        pollMs: 50,
        sessionName: 'p2t-claimed-run',
        onStatus: () => {
          void t.store.get(lockKeys.roll(newRc.id)).then(async ({ value }) => {
            const info = value?.session ? await t.store.sessionInfo(value.session) : undefined;
            if (info) claimants.add(info.name);
          });
        },
      });
      expect(result).toEqual({ outcome: 'succeeded' });
      await eventually(async () => claimants.size > 0);
      expect([...claimants]).toEqual(['p2t-claimed-run']);
      expect((await t.store.get(lockKeys.roll(newRc.id))).value).toBeUndefined();
    } finally {
      await farm.stop();
      await sim.stop();
    }
  });
});
