import { setTimeout as sleep } from 'node:timers/promises';
import {
  decodeAudit,
  encodeRollStatus,
  LabelStore,
  type RollStatus,
  rollStatusKey,
} from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { RcFarm, RcStore } from '@p2/rc';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  intentNodes,
  manifestText,
  passingCount,
  simulatePreparers,
  startTestStore,
  type TestStore,
  text,
} from '../../controller-kit/src/test-support.js';
import { RollFarm } from './roll-farm.js';
import { RollStore } from './roll-store.js';
import { runRollingUpdate } from './rolling-update.js';
import { waitForRoll } from './wait.js';

let t: TestStore;
let labels: LabelStore;
let rcs: RcStore;
let rolls: RollStore;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  t = await startTestStore();
  labels = new LabelStore(t.store);
  rcs = new RcStore(t.store);
  rolls = new RollStore(t.store);
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(async () => {
  await t?.cleanup();
});

/** Nodes, a farm running every RC, simulated preparers (v3 never becomes healthy), an old RC at `replicas`. */
async function setup(name: string, nodeCount: number, replicas: number) {
  const pod = `p2t-${name}`;
  const nodes = Array.from({ length: nodeCount }, (_, i) => `p2t-${name}-n${i + 1}`);
  for (const n of nodes) await labels.setLabel('node', n, 'fleet', name);
  const sim = simulatePreparers(t.store, {
    healthOf: (m) => (m.includes('_v3.') ? 'critical' : 'passing'),
  });
  const farm = new RcFarm(
    { store: t.store },
    { sessionTtlMs: 10_000, lockDelayMs: 0, pollMs: 300, resyncMs: 300 },
  ).start();
  cleanups.push(
    () => sim.stop(),
    () => farm.stop(),
  );
  const oldRc = await rcs.create({
    manifest: parseManifest(manifestText(pod, 'v1')),
    nodeSelector: `fleet=${name}`,
    replicasDesired: replicas,
    clusterName: 'c1',
  });
  await eventually(async () => (await passingCount(t.store, pod)) === replicas);
  const newRc = (version: string) =>
    rcs.create({
      manifest: parseManifest(manifestText(pod, version)),
      nodeSelector: `fleet=${name}`,
      disabled: true,
    });
  return { pod, nodes, oldRc, newRc };
}

/** Samples the passing count while `run` is pending; returns the minimum seen. */
async function minPassingDuring<T>(
  pod: string,
  run: Promise<T>,
): Promise<{ result: T; min: number }> {
  let done = false;
  let min = Number.POSITIVE_INFINITY;
  const sampler = (async () => {
    while (!done) {
      min = Math.min(min, await passingCount(t.store, pod));
      await sleep(20);
    }
  })();
  const result = await run.finally(() => {
    done = true;
  });
  await sampler;
  return { result, min };
}

describe('RollStore', () => {
  it('validates requests and refuses a second update on the same RC', async () => {
    const a = await rcs.create({
      manifest: parseManifest(manifestText('p2t-rs')),
      nodeSelector: 'x=y',
    });
    const b = await rcs.create({
      manifest: parseManifest(manifestText('p2t-rs', '2')),
      nodeSelector: 'x=y',
    });
    const c = await rcs.create({
      manifest: parseManifest(manifestText('p2t-rs', '3')),
      nodeSelector: 'x=y',
    });
    const other = await rcs.create({
      manifest: parseManifest(manifestText('p2t-other')),
      nodeSelector: 'x=y',
    });
    await expect(
      rolls.create({ oldRc: a.id, newRc: b.id, desiredReplicas: 1, minimumReplicas: 2 }),
    ).rejects.toThrow(/desired \(1\) must be at least minimum \(2\)/);
    await expect(
      rolls.create({ oldRc: a.id, newRc: other.id, desiredReplicas: 1, minimumReplicas: 0 }),
    ).rejects.toThrow(/different pods/);
    await expect(
      rolls.create({ oldRc: a.id, newRc: 'nope', desiredReplicas: 1, minimumReplicas: 0 }),
    ).rejects.toMatchObject({
      code: 'P2_RC_NOT_FOUND',
    });
    const ru = await rolls.create({
      oldRc: a.id,
      newRc: b.id,
      desiredReplicas: 2,
      minimumReplicas: 1,
    });
    expect(JSON.parse((await text(t.store, `rolls/${b.id}`))!)).toMatchObject({
      OldRC: a.id,
      NewRC: b.id,
      DesiredReplicas: 2,
      MinimumReplicas: 1,
      LeaveOld: false,
      RollDelay: 0,
    });
    expect((await labels.get('rolls', b.id)).labels).toEqual({ pod_id: 'p2t-rs' });
    await expect(
      rolls.create({ oldRc: b.id, newRc: c.id, desiredReplicas: 2, minimumReplicas: 1 }),
    ).rejects.toMatchObject({
      code: 'P2_RC_ROLL_CONFLICT',
    });
    await rolls.pause(ru.newRc);
    expect((await rolls.get(ru.newRc))!.roll.paused).toBe(true);
    await rolls.cancel(ru.newRc);
    expect(await rolls.get(ru.newRc)).toBeUndefined();
  });
});

describe('runRollingUpdate with real RC workers and simulated preparers', () => {
  it('rolls v1 → v2 keeping min_healthy passing throughout, then cleans up', async () => {
    const { pod, oldRc, newRc } = await setup('roll', 3, 3);
    const next = await newRc('v2');
    await rolls.create({ oldRc: oldRc.id, newRc: next.id, desiredReplicas: 3, minimumReplicas: 2 });
    const statuses: RollStatus[] = [];
    const { result, min } = await minPassingDuring(
      pod,
      runRollingUpdate({ store: t.store }, next.id, {
        pollMs: 100,
        onStatus: (s) => statuses.push(s),
      }),
    );
    expect(result).toBe('succeeded');
    expect(min).toBeGreaterThanOrEqual(2);
    await eventually(async () => (await passingCount(t.store, pod)) === 3);
    for (const node of await intentNodes(t.store, pod)) {
      expect(await text(t.store, `intent/${node}/${pod}`)).toBe(manifestText(pod, 'v2'));
    }
    await expect(rcs.get(oldRc.id)).rejects.toMatchObject({ code: 'P2_RC_NOT_FOUND' });
    expect(await rolls.get(next.id)).toBeUndefined();
    expect((await rolls.status(next.id))!.state).toBe('succeeded');
    expect(statuses.some((s) => s.message.startsWith('moved'))).toBe(true);
    const completion = (await t.store.list('audit_logs/')).value
      .map((e) => decodeAudit(e.value))
      .find(
        (a) =>
          a.eventType === 'ROLLING_UPDATE_COMPLETION' &&
          (a.eventDetails as { rolling_update_id: string }).rolling_update_id === next.id,
      );
    expect(completion?.eventDetails).toMatchObject({
      pod_id: pod,
      cluster_name: '',
      succeeded: true,
      canceled: false,
    });
  });

  it('rolls back by itself when v3 never becomes healthy before the progress deadline', async () => {
    const { pod, oldRc, newRc } = await setup('rollback', 3, 3);
    const bad = await newRc('v3');
    await rolls.create({
      oldRc: oldRc.id,
      newRc: bad.id,
      desiredReplicas: 3,
      minimumReplicas: 2,
      progressDeadlineMs: 1_500,
      autoRollback: true,
    });
    const { result, min } = await minPassingDuring(
      pod,
      runRollingUpdate({ store: t.store }, bad.id, { pollMs: 100 }),
    );
    expect(result).toBe('rolled_back');
    expect(min).toBeGreaterThanOrEqual(2);
    expect((await rolls.status(bad.id))!).toMatchObject({
      state: 'rolled_back',
      originalOldReplicas: 3,
    });
    expect((await rcs.get(oldRc.id)).rc).toMatchObject({ replicasDesired: 3, disabled: false });
    expect((await rcs.get(bad.id)).rc.replicasDesired).toBe(0);
    await eventually(async () => (await passingCount(t.store, pod)) === 3);
    for (const node of await intentNodes(t.store, pod)) {
      expect(await text(t.store, `intent/${node}/${pod}`)).toBe(manifestText(pod, 'v1'));
    }
  });

  it('a new replica its preparer reverted is a failed step: rolled back without waiting for a deadline', async () => {
    const { pod, oldRc, newRc } = await setup('reverted', 2, 2);
    const bad = await newRc('v3');
    const sha = parseManifest(manifestText(pod, 'v3')).sha();
    await rolls.create({
      oldRc: oldRc.id,
      newRc: bad.id,
      desiredReplicas: 2,
      minimumReplicas: 1,
      progressDeadlineMs: 0, // no deadline: only the revert can end it
      autoRollback: true,
    });
    const running = runRollingUpdate({ store: t.store }, bad.id, { pollMs: 100 });
    // The host-local auto-revert, as a preparer reports it once v3 did not get healthy there.
    let reverted: string | undefined;
    await eventually(async () => {
      for (const node of await intentNodes(t.store, pod))
        if ((await text(t.store, `intent/${node}/${pod}`)) === manifestText(pod, 'v3')) {
          reverted = node;
          return true;
        }
      return false;
    });
    await t.store.put(
      `status/preparer/${reverted}/${pod}`,
      JSON.stringify({
        pod,
        uniqueKey: '',
        state: 'reverted',
        sha,
        updated: '2026-01-01T00:00:00Z',
      }),
    );
    expect(await running).toBe('rolled_back');
    expect((await rolls.status(bad.id))!.message).toContain(
      `the new version was reverted by the preparer on ${reverted}`,
    );
    expect((await rcs.get(oldRc.id)).rc).toMatchObject({ replicasDesired: 2, disabled: false });
  });

  it('a metric-gated update counts a new replica only once its preparer says the gate passed, and rolls back on a failed gate', async () => {
    const { pod, oldRc, newRc } = await setup('gated', 3, 3);
    const v2 = await newRc('v2');
    const sha2 = parseManifest(manifestText(pod, 'v2')).sha();
    const metricGate = { path: '/metrics', expr: 'e_total / r_total < 0.05', soakMs: 1000 };
    await expect(
      rolls.create({
        oldRc: oldRc.id,
        newRc: v2.id,
        desiredReplicas: 3,
        minimumReplicas: 2,
        metricGate: { ...metricGate, expr: 'e_total <' },
      }),
    ).rejects.toThrow(/metric gate "e_total <": expected a number/);
    await rolls.create({
      oldRc: oldRc.id,
      newRc: v2.id,
      desiredReplicas: 3,
      minimumReplicas: 2,
      metricGate,
    });
    expect((await rolls.get(v2.id))?.roll.metricGate).toEqual(metricGate);
    const statuses: RollStatus[] = [];
    const running = runRollingUpdate({ store: t.store }, v2.id, {
      pollMs: 100,
      onStatus: (s) => statuses.push(s),
    });
    const report = (node: string, state: string, roll = v2.id, sha = sha2) =>
      t.store.put(
        `status/gates/${node}/${pod}`,
        JSON.stringify({ sha, roll, state, updated: new Date().toISOString() }),
      );
    const v2Nodes = async () => {
      const out: string[] = [];
      for (const node of await intentNodes(t.store, pod))
        if ((await text(t.store, `intent/${node}/${pod}`)) === manifestText(pod, 'v2'))
          out.push(node);
      return out;
    };
    await eventually(async () => (await v2Nodes()).length === 1);
    const [first] = await v2Nodes();
    // Healthy by its status check, but not gated yet (and a report of another update or version
    // does not count): the update waits.
    await report(first!, 'passed', 'another-roll');
    await report(first!, 'passed', v2.id, 'f'.repeat(64));
    await eventually(async () =>
      statuses.some((s) =>
        s.message.startsWith('blocking for more healthy replicas (0 new healthy'),
      ),
    );
    await report(first!, 'soaking');
    await eventually(async () =>
      statuses.some((s) => s.message.includes('1 soaking the metric gate')),
    );
    expect(await v2Nodes()).toEqual([first]);
    // Each preparer's verdict lets the next step go.
    let done = false;
    const preparers = (async () => {
      while (!done) {
        for (const node of await v2Nodes()) await report(node, 'passed');
        await sleep(50);
      }
    })();
    expect(await running).toBe('succeeded');
    done = true;
    await preparers;

    // v4 is healthy by its status check, but one replica fails the metric gate: rolled back.
    const v4 = await newRc('v4');
    const sha4 = parseManifest(manifestText(pod, 'v4')).sha();
    await rolls.create({
      oldRc: v2.id,
      newRc: v4.id,
      desiredReplicas: 3,
      minimumReplicas: 2,
      metricGate,
      autoRollback: true,
    });
    const rolling = runRollingUpdate({ store: t.store }, v4.id, { pollMs: 100 });
    let failing: string | undefined;
    await eventually(async () => {
      for (const node of await intentNodes(t.store, pod))
        if ((await text(t.store, `intent/${node}/${pod}`)) === manifestText(pod, 'v4')) {
          failing = node;
          return true;
        }
      return false;
    });
    await t.store.put(
      `status/gates/${failing}/${pod}`,
      JSON.stringify({
        sha: sha4,
        roll: v4.id,
        state: 'failed',
        reason: 'e_total / r_total < 0.05 does not hold: the value is 0.5000',
        value: 0.5,
        updated: new Date().toISOString(),
      }),
    );
    expect(await rolling).toBe('rolled_back');
    expect((await rolls.status(v4.id))!.message).toBe(
      `the metric gate failed on ${failing} (e_total / r_total < 0.05 does not hold: the value is 0.5000); rolled back to RC ${v2.id}`,
    );
    expect((await rcs.get(v2.id)).rc).toMatchObject({ replicasDesired: 3, disabled: false });
  });

  it('without auto-rollback a stuck update fails and stays failed until resumed', async () => {
    const { pod, oldRc, newRc } = await setup('stuck', 2, 2);
    const bad = await newRc('v3');
    await rolls.create({
      oldRc: oldRc.id,
      newRc: bad.id,
      desiredReplicas: 2,
      minimumReplicas: 1,
      progressDeadlineMs: 800,
    });
    expect(await runRollingUpdate({ store: t.store }, bad.id, { pollMs: 100 })).toBe('failed');
    expect((await rolls.status(bad.id))!.state).toBe('failed');
    expect((await rolls.status(bad.id))!.message).toContain(
      'no new replica became healthy for 800ms',
    );
    expect(await runRollingUpdate({ store: t.store }, bad.id, { pollMs: 100 })).toBe('failed');
    expect(await passingCount(t.store, pod)).toBeGreaterThanOrEqual(1);
    await rolls.resume(bad.id);
    expect((await rolls.status(bad.id))!.state).toBe('rolling');
  });

  it('surge places new replicas before removing old ones', async () => {
    const { pod, oldRc, newRc } = await setup('surge', 4, 3);
    const next = await newRc('v2');
    await rolls.create({
      oldRc: oldRc.id,
      newRc: next.id,
      desiredReplicas: 3,
      minimumReplicas: 3,
      strategy: 'surge',
      maxSurge: 1,
    });
    const { result, min } = await minPassingDuring(
      pod,
      runRollingUpdate({ store: t.store }, next.id, { pollMs: 100 }),
    );
    expect(result).toBe('succeeded');
    expect(min).toBeGreaterThanOrEqual(3);
    await eventually(async () => (await intentNodes(t.store, pod)).length === 3);
  });

  it('pause holds the update; resume lets it finish; another runner is locked out meanwhile', async () => {
    const { oldRc, newRc } = await setup('pause', 2, 2);
    const next = await newRc('v2');
    await rolls.create({ oldRc: oldRc.id, newRc: next.id, desiredReplicas: 2, minimumReplicas: 1 });
    await rolls.pause(next.id);
    const statuses: RollStatus[] = [];
    const run = runRollingUpdate({ store: t.store }, next.id, {
      pollMs: 100,
      onStatus: (s) => statuses.push(s),
    });
    await eventually(async () => statuses.some((s) => s.state === 'paused'));
    expect(await runRollingUpdate({ store: t.store }, next.id, { pollMs: 100 })).toBe('locked');
    expect((await rcs.get(next.id)).rc.replicasDesired).toBe(0);
    await rolls.resume(next.id);
    expect(await run).toBe('succeeded');
  });
});

describe('maxUnavailable', () => {
  it('caps how many replicas one step takes away, even with minimum 0', async () => {
    const { pod, oldRc, newRc } = await setup('maxun', 4, 4);
    const next = await newRc('v2');
    await rolls.create({
      oldRc: oldRc.id,
      newRc: next.id,
      desiredReplicas: 4,
      minimumReplicas: 0,
      maxUnavailable: 1,
    });
    const moves: number[] = [];
    const { result, min } = await minPassingDuring(
      pod,
      runRollingUpdate({ store: t.store }, next.id, {
        pollMs: 100,
        onStatus: (s) => {
          const m = /^moved (\d+) from old/.exec(s.message);
          if (m) moves.push(Number(m[1]));
        },
      }),
    );
    expect(result).toBe('succeeded');
    expect(moves.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...moves)).toBe(1);
    expect(min).toBeGreaterThanOrEqual(3);
  });
});

describe('roll delay', () => {
  it('waits the roll delay between steps', async () => {
    const { oldRc, newRc } = await setup('delay', 3, 3);
    const next = await newRc('v2');
    await rolls.create({
      oldRc: oldRc.id,
      newRc: next.id,
      desiredReplicas: 3,
      minimumReplicas: 2,
      rollDelayMs: 600,
    });
    const steps: number[] = [];
    const outcome = await runRollingUpdate({ store: t.store }, next.id, {
      pollMs: 50,
      onStatus: (s) => {
        if (s.message.startsWith('moved')) steps.push(Date.now());
      },
    });
    expect(outcome).toBe('succeeded');
    expect(steps.length).toBeGreaterThanOrEqual(2);
    // Observed through onStatus, which a loaded host may report late for one step and not the
    // next: the bound leaves room for that, and still fails when the 600 ms delay is skipped.
    for (let i = 1; i < steps.length; i++)
      expect(steps[i]! - steps[i - 1]!).toBeGreaterThanOrEqual(400);
  });
});

describe('RollFarm', () => {
  it('runs a rolling update it claims to the end', async () => {
    const { pod, oldRc, newRc } = await setup('rollfarm', 2, 2);
    const next = await newRc('v2');
    const outcomes: string[] = [];
    const farm = new RollFarm(
      { store: t.store },
      {
        sessionTtlMs: 10_000,
        lockDelayMs: 0,
        pollMs: 200,
        rollPollMs: 100,
        onOutcome: (_id, outcome) => outcomes.push(outcome),
      },
    ).start();
    cleanups.push(() => farm.stop());
    await rolls.create({ oldRc: oldRc.id, newRc: next.id, desiredReplicas: 2, minimumReplicas: 1 });
    await eventually(async () => outcomes.includes('succeeded'));
    expect(await rolls.get(next.id)).toBeUndefined();
    await eventually(async () => (await passingCount(t.store, pod)) === 2);
    await expect(rcs.get(oldRc.id)).rejects.toMatchObject({ code: 'P2_RC_NOT_FOUND' });
  });
});

/** Two RCs of `pod` and an update between them that no farm runs. */
async function pendingRoll(pod: string) {
  const rc = (v: string) =>
    rcs.create({ manifest: parseManifest(manifestText(pod, v)), nodeSelector: 'x=y' });
  const [a, b] = [await rc('1'), await rc('2')];
  await rolls.create({ oldRc: a.id, newRc: b.id, desiredReplicas: 1, minimumReplicas: 0 });
  return { rolls, id: b.id };
}

describe('waitForRoll', () => {
  it('a success written just after the farm deleted the update reads as succeeded, not cancelled', async () => {
    const { rolls, id } = await pendingRoll('p2t-wait-end');
    const statuses: string[] = [];
    const waiting = waitForRoll(t.store, id, {
      pollMs: 20,
      onStatus: (s) => statuses.push(s.state),
    });
    // What the farm's success does: its final transaction deletes the update, then the status says so.
    await rolls.cancel(id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = new Date().toISOString();
    await t.store.put(
      rollStatusKey(id),
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
    const { rolls, id } = await pendingRoll('p2t-wait-gone');
    await rolls.cancel(id);
    expect((await waitForRoll(t.store, id, { pollMs: 20, endGraceMs: 100 })).state).toBe(
      'cancelled',
    );
  });
});
