import { setTimeout as sleep } from 'node:timers/promises';
import type { Alert } from '@p2/controller-kit';
import {
  decodeAudit,
  dsStatusKey,
  encodeHealthRecord,
  healthKey,
  LabelStore,
  realityKey,
} from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
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
import { DsFarm, DsStore, DsWorker, readDsStatus, reconcileDaemonSet } from './daemon-set.js';

let t: TestStore;
let labels: LabelStore;
let dss: DsStore;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  t = await startTestStore();
  labels = new LabelStore(t.store);
  dss = new DsStore(t.store);
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(async () => {
  await t?.cleanup();
});

async function nodes(name: string, count: number, role = 'db'): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `p2t-${name}-n${i + 1}`);
  await labels.applyBatch(
    names.map((id) => ({ type: 'node' as const, id, set: { fleet: name, role } })),
  );
  return names;
}

/**
 * `count` labelled nodes and a daemon set of `p2t-<name>` v1 on them (selector `fleet=<name>`),
 * served by simulated preparers on which v3 never gets healthy.
 */
async function rollingDs(name: string, count: number, o: { minHealth: number; timeoutMs: number }) {
  const names = await nodes(name, count);
  const pod = `p2t-${name}`;
  const sim = simulatePreparers(t.store, {
    healthOf: (m) => (m.includes('_v3.') ? 'critical' : 'passing'),
  });
  cleanups.push(() => sim.stop());
  const ds = await dss.create({
    manifest: parseManifest(manifestText(pod, 'v1')),
    nodeSelector: `fleet=${name}`,
    minHealth: o.minHealth,
    clusterName: 'c',
    timeoutMs: o.timeoutMs,
  });
  return { names, pod, ds };
}

describe('DsStore', () => {
  it('creates with an audit record and enforces P2 rules', async () => {
    const m = parseManifest(manifestText('p2t-dsstore'));
    await expect(
      dss.create({ manifest: m, minHealth: 0, clusterName: 'c', timeoutMs: 1000 }),
    ).rejects.toThrow(/needs a node selector/);
    await expect(
      dss.create({
        manifest: m,
        nodeSelector: 'a=b',
        minHealth: 0,
        clusterName: 'c',
        timeoutMs: 0,
      }),
    ).rejects.toThrow(/timeout must be positive/);
    await nodes('dsstore', 2);
    const ds = await dss.create({
      manifest: m,
      nodeSelector: 'fleet=dsstore',
      minHealth: 1,
      clusterName: 'c',
      timeoutMs: 60_000,
      user: 'alice',
    });
    const stored = JSON.parse((await text(t.store, `daemon_sets/${ds.id}`))!);
    expect(stored).toMatchObject({
      id: ds.id,
      disabled: false,
      min_health: 1,
      cluster_name: 'c',
      node_selector: 'fleet=dsstore',
      pod_id: 'p2t-dsstore',
      timeout: 60_000_000_000,
    });
    const audit = (await t.store.list('audit_logs/')).value
      .map((e) => decodeAudit(e.value))
      .find((a) => a.eventType === 'DAEMON_SET_CREATED');
    expect(audit?.eventDetails).toMatchObject({ user: 'alice', daemon_set: { id: ds.id } });
    // A second enabled DS of the same pod on overlapping nodes contends.
    await expect(
      dss.create({
        manifest: m,
        nodeSelector: 'role=db,fleet=dsstore',
        minHealth: 0,
        clusterName: 'c',
        timeoutMs: 1,
      }),
    ).rejects.toMatchObject({ code: 'P2_RC_CONFLICT' });
    await expect(
      dss.updateManifest(ds.id, parseManifest(manifestText('p2t-else'))),
    ).rejects.toMatchObject({
      code: 'P2_RC_INVALID_REQUEST',
    });
    await dss.disable(ds.id);
    expect((await dss.get(ds.id)).ds.disabled).toBe(true);
  });
});

describe('reconcileDaemonSet', () => {
  it('lands on every matching node, follows label changes, leaves RC pods alone', async () => {
    const names = await nodes('dsland', 4);
    await labels.setLabel('node', names[3]!, 'role', 'web');
    const pod = 'p2t-dsland';
    // An RC already runs this pod on node 3.
    await labels.setLabels('pod', `${names[2]}/${pod}`, {
      replication_controller_id: 'some-rc',
      pod_id: pod,
    });
    const ds = await dss.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: 'fleet=dsland,role=db',
      minHealth: 0,
      clusterName: 'c',
      timeoutMs: 1000,
    });
    const first = await reconcileDaemonSet({ store: t.store }, ds);
    expect(first.added).toEqual(names.slice(0, 2));
    expect(first.skipped).toEqual([names[2]]);
    expect(await intentNodes(t.store, pod)).toEqual(names.slice(0, 2));
    expect((await labels.get('pod', `${names[0]}/${pod}`)).labels).toEqual({
      daemon_set_id: ds.id,
      pod_id: pod,
    });
    expect(JSON.parse((await text(t.store, dsStatusKey(ds.id)))!)).toMatchObject({
      manifest_sha: ds.manifest.sha(),
    });

    await labels.setLabel('node', names[3]!, 'role', 'db');
    await labels.setLabel('node', names[0]!, 'role', 'web');
    const second = await reconcileDaemonSet({ store: t.store }, ds);
    expect(second.added).toEqual([names[3]]);
    expect(second.removed).toEqual([names[0]]);
    expect(await intentNodes(t.store, pod)).toEqual([names[1], names[3]]);

    for (const n of names) await labels.setLabel('node', n, 'role', 'none');
    await expect(reconcileDaemonSet({ store: t.store }, ds)).rejects.toThrow(
      /refuses to unschedule everything/,
    );
    expect(await intentNodes(t.store, pod)).toEqual([names[1], names[3]]);
  });

  it('replaces a manifest node by node, keeping min_health passing', async () => {
    const { names, pod, ds } = await rollingDs('dsroll', 4, { minHealth: 3, timeoutMs: 1000 });
    const worker = new DsWorker({ store: t.store }, ds.id, { resyncMs: 200 }).start();
    cleanups.push(() => worker.stop());
    await eventually(async () => (await passingCount(t.store, pod)) === 4);

    await dss.updateManifest(ds.id, parseManifest(manifestText(pod, 'v2')));
    let min = 4;
    await eventually(
      async () => {
        min = Math.min(min, await passingCount(t.store, pod));
        const texts = await Promise.all(names.map((n) => text(t.store, `reality/${n}/${pod}`)));
        return (
          texts.every((x) => x === manifestText(pod, 'v2')) &&
          (await passingCount(t.store, pod)) === 4
        );
      },
      15_000,
      20,
    );
    expect(min).toBeGreaterThanOrEqual(3);

    // A version that never becomes healthy: the budget (4 passing − 3) allows one node only.
    await dss.updateManifest(ds.id, parseManifest(manifestText(pod, 'v3')));
    await eventually(async () => (await passingCount(t.store, pod)) === 3);
    await sleep(800);
    const versions = await Promise.all(names.map((n) => text(t.store, `intent/${n}/${pod}`)));
    expect(versions.filter((v) => v === manifestText(pod, 'v3'))).toHaveLength(1);
    expect(await passingCount(t.store, pod)).toBe(3);
  });

  it('replaces the next node when the last one turns healthy, not at the next resync', async () => {
    const names = await nodes('dswake', 3);
    const pod = 'p2t-dswake';
    const sim = simulatePreparers(t.store, { healthOf: () => 'passing', intervalMs: 20 });
    cleanups.push(() => sim.stop());
    const ds = await dss.create({
      manifest: parseManifest(manifestText(pod, 'v1')),
      nodeSelector: 'fleet=dswake',
      minHealth: 0,
      clusterName: 'c',
      timeoutMs: 3_600_000,
    });
    // A resync of an hour and one node at a time: only health changes can move the update on.
    const worker = new DsWorker({ store: t.store }, ds.id, {
      resyncMs: 3_600_000,
      maxInFlight: 1,
    }).start();
    cleanups.push(() => worker.stop());
    await eventually(async () => (await passingCount(t.store, pod)) === 3, 15_000);
    await dss.updateManifest(ds.id, parseManifest(manifestText(pod, 'v2')));
    await eventually(async () => {
      const texts = await Promise.all(names.map((n) => text(t.store, `reality/${n}/${pod}`)));
      return texts.every((x) => x === manifestText(pod, 'v2'));
    }, 15_000);
    const status = await readDsStatus(t.store, ds.id);
    expect(status?.nodes_timed_out).toEqual([]);
  });

  it('a burst of health changes during a replacement makes a few passes, not one per change', async () => {
    const names = await nodes('dsburst', 40);
    const pod = 'p2t-dsburst';
    const ds = await dss.create({
      manifest: parseManifest(manifestText(pod, 'v1')),
      nodeSelector: 'fleet=dsburst',
      minHealth: 0,
      clusterName: 'c',
      timeoutMs: 3_600_000,
    });
    let passes = 0;
    const worker = new DsWorker({ store: t.store }, ds.id, {
      resyncMs: 3_600_000,
      onPass: () => {
        passes++;
      },
    }).start();
    cleanups.push(() => worker.stop());
    // Every node got v1; nobody reports yet, so the worker waits on the pod's health.
    await eventually(async () => (await intentNodes(t.store, pod)).length === 40, 15_000);
    await sleep(300);
    const before = passes;
    // 40 health reports, 10 ms apart: a fleet's preparers reporting one after another.
    for (const node of names) {
      await t.store.put(
        healthKey(pod, node),
        encodeHealthRecord({ podId: pod, node, status: 'critical', time: new Date() }),
      );
      await sleep(10);
    }
    await sleep(1_500);
    // Each wake-up lets at least 100 ms of reports gather: at most about one pass per 100 ms.
    expect(passes - before).toBeGreaterThan(0);
    expect(passes - before).toBeLessThanOrEqual(8);
  });

  it("counts a passing record only when it was written after the node's reality (health gate)", async () => {
    const [n1, n2] = (await nodes('dsgate', 2)) as [string, string];
    const pod = 'p2t-dsgate';
    const ctx = { store: t.store };
    const ds = await dss.create({
      manifest: parseManifest(manifestText(pod, 'v1')),
      nodeSelector: 'fleet=dsgate',
      minHealth: 1,
      clusterName: 'c',
      timeoutMs: 60_000,
    });
    /** As a preparer does: reality first, then (optionally) a fresh health record. */
    const runs = async (node: string, version: string, health: boolean) => {
      await t.store.put(realityKey(node, pod), manifestText(pod, version));
      if (health)
        await t.store.put(
          healthKey(pod, node),
          encodeHealthRecord({ podId: pod, node, status: 'passing', time: new Date() }),
        );
    };
    expect((await reconcileDaemonSet(ctx, ds)).added.sort()).toEqual([n1, n2]);
    await runs(n1, 'v1', true);
    await runs(n2, 'v1', true);
    const v2 = await dss.updateManifest(ds.id, parseManifest(manifestText(pod, 'v2')));
    // Budget: 2 healthy − min 1 = one node at a time.
    const first = (await reconcileDaemonSet(ctx, v2)).replaced;
    expect(first).toHaveLength(1);
    const [done, other] = first[0] === n1 ? [n1, n2] : [n2, n1];
    // The new version runs, but its health record is still the old version's: not healthy yet.
    await runs(done, 'v2', false);
    expect((await reconcileDaemonSet(ctx, v2)).replaced).toEqual([]);
    expect(await text(t.store, `intent/${other}/${pod}`)).toBe(manifestText(pod, 'v1'));
    // A record written after the new reality counts: the next node is replaced.
    await runs(done, 'v2', true);
    expect((await reconcileDaemonSet(ctx, v2)).replaced).toEqual([other]);
  });
});

describe('DsFarm', () => {
  it('runs daemon sets it claims and sweeps the pods of deleted ones', async () => {
    const names = await nodes('dsfarm', 2);
    const pod = 'p2t-dsfarm';
    const farm = new DsFarm(
      { store: t.store },
      { sessionTtlMs: 10_000, lockDelayMs: 0, pollMs: 200, resyncMs: 200, orphanSweepMs: 200 },
    ).start();
    cleanups.push(() => farm.stop());
    const ds = await dss.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: 'fleet=dsfarm',
      minHealth: 0,
      clusterName: 'c',
      timeoutMs: 1000,
    });
    await eventually(async () => (await intentNodes(t.store, pod)).length === 2);
    expect(farm.owned).toContain(ds.id);
    await dss.delete(ds.id);
    await eventually(async () => (await intentNodes(t.store, pod)).length === 0);
    expect((await labels.get('pod', `${names[0]}/${pod}`)).labels).toEqual({ pod_id: pod });
    await eventually(async () => !farm.owned.includes(ds.id));
  });
});

describe('daemon set per-node timeout', () => {
  it('moves on from a node that is not healthy in time, alerting once', async () => {
    const { names, pod, ds } = await rollingDs('dstime', 3, { minHealth: 0, timeoutMs: 400 });
    const alerts: Alert[] = [];
    const worker = new DsWorker({ store: t.store, alert: (a) => alerts.push(a) }, ds.id, {
      resyncMs: 100,
      maxInFlight: 1,
    }).start();
    cleanups.push(() => worker.stop());
    await eventually(async () => (await passingCount(t.store, pod)) === 3);
    await dss.updateManifest(ds.id, parseManifest(manifestText(pod, 'v3')));
    // One node at a time (maxInFlight 1); each is given up on after 400 ms, so all get v3.
    await eventually(async () => {
      const status = await readDsStatus(t.store, ds.id);
      return (status?.nodes_timed_out ?? []).length === 3;
    }, 10_000);
    const versions = await Promise.all(names.map((n) => text(t.store, `intent/${n}/${pod}`)));
    expect(versions.every((v) => v === manifestText(pod, 'v3'))).toBe(true);
    const timeoutAlerts = alerts.filter((a) => a.incidentKey === `daemon_set-${ds.id}-timeout`);
    expect(timeoutAlerts.flatMap((a) => (a.details as { nodes: string[] }).nodes).sort()).toEqual(
      names,
    );
    expect(timeoutAlerts[0]?.description).toContain('not healthy within 400ms of');
  });
});
