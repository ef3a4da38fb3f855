import { encodeRollStatus, rollStatusKey } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  manifestText,
  startTestStore,
  type TestStore,
} from '../../controller-kit/src/test-support.js';
import { RollStore } from './roll-store.js';
import { waitForRoll } from './wait.js';

let t: TestStore;

beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await t?.cleanup();
});

describe('waitForRoll', () => {
  it('a success written just after the farm deleted the update reads as succeeded, not cancelled', async () => {
    const rcs = new RcStore(t.store);
    const rolls = new RollStore(t.store);
    const pod = 'p2t-wait-end';
    const a = await rcs.create({
      manifest: parseManifest(manifestText(pod, '1')),
      nodeSelector: 'x=y',
    });
    const b = await rcs.create({
      manifest: parseManifest(manifestText(pod, '2')),
      nodeSelector: 'x=y',
    });
    await rolls.create({ oldRc: a.id, newRc: b.id, desiredReplicas: 1, minimumReplicas: 0 });
    const statuses: string[] = [];
    const waiting = waitForRoll(t.store, b.id, {
      pollMs: 20,
      onStatus: (s) => statuses.push(s.state),
    });
    // What the farm's success does: its final transaction deletes the update, then the status says so.
    await rolls.cancel(b.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = new Date().toISOString();
    await t.store.put(
      rollStatusKey(b.id),
      encodeRollStatus({
        state: 'succeeded',
        message: '1 replicas of the new RC are scheduled',
        originalOldReplicas: 1,
        originalTotal: 1,
        startedAt: now,
        lastProgressAt: now,
        updatedAt: now,
      }),
    );
    const end = await waiting;
    expect(end.state).toBe('succeeded');
    expect(statuses).toEqual(['succeeded']);
  });

  it('an update deleted with no farm to report on it is cancelled once the grace ends', async () => {
    const rcs = new RcStore(t.store);
    const rolls = new RollStore(t.store);
    const pod = 'p2t-wait-gone';
    const a = await rcs.create({
      manifest: parseManifest(manifestText(pod, '1')),
      nodeSelector: 'x=y',
    });
    const b = await rcs.create({
      manifest: parseManifest(manifestText(pod, '2')),
      nodeSelector: 'x=y',
    });
    await rolls.create({ oldRc: a.id, newRc: b.id, desiredReplicas: 1, minimumReplicas: 0 });
    await rolls.cancel(b.id);
    expect((await waitForRoll(t.store, b.id, { pollMs: 20, endGraceMs: 100 })).state).toBe(
      'cancelled',
    );
  });
});
