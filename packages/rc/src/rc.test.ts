import { type Alert, StoreHealthSource } from '@p2/controller-kit';
import {
  decodeAudit,
  encodeHealthRecord,
  healthKey,
  intentKey,
  LabelStore,
  lockKeys,
  rcKey,
  rcStatusKey,
  realityKey,
} from '@p2/keyspace';
import type { Store, TxnOp } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  eventually,
  intentNodes,
  manifestText,
  startTestStore,
  type TestStore,
  text,
} from '../../controller-kit/src/test-support.js';
import { RcWorker, reconcileRc } from './controller.js';
import { RcStore } from './rcstore.js';

let t: TestStore;
let labels: LabelStore;
let rcs: RcStore;
let n = 0;

beforeAll(async () => {
  t = await startTestStore();
  labels = new LabelStore(t.store);
  rcs = new RcStore(t.store);
});
afterAll(async () => {
  await t?.cleanup();
});

/** A fresh pod id and node prefix per test, so tests never see each other's data. */
let pod: string;
let fleet: string;
beforeEach(() => {
  n++;
  pod = `p2t-app${n}`;
  fleet = `f${n}`;
});

async function addNodes(
  names: string[],
  extra: (name: string, i: number) => Record<string, string> = () => ({}),
) {
  await labels.applyBatch(
    names.map((name, i) => ({
      type: 'node' as const,
      id: name,
      set: { fleet, ...extra(name, i) },
    })),
  );
}

function nodes(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `p2t-${fleet}-n${i + 1}`);
}

/** A worker on one RC that would resync only after a minute, collecting its errors. */
function startWorker(rcId: string) {
  const errors: unknown[] = [];
  const worker = new RcWorker({ store: t.store }, rcId, {
    resyncMs: 60_000,
    onError: (e) => errors.push(e),
  }).start();
  return { worker, errors };
}

async function audits(store: Store, podId: string) {
  const entries = (await store.list('audit_logs/')).value.map((e) => decodeAudit(e.value, e.key));
  return entries.filter((a) => (a.eventDetails as { pod_id: string }).pod_id === podId);
}

describe('RcStore', () => {
  it('creates P2-shaped records with az/cluster pod labels and a pod_id RC label', async () => {
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: 'fleet=x',
      availabilityZone: 'us-west',
      clusterName: 'main',
      rcLabels: { team: 'core' },
    });
    const stored = JSON.parse((await text(t.store, `replication_controllers/${rc.id}`))!);
    expect(Object.keys(stored)).toEqual([
      'id',
      'manifest',
      'node_selector',
      'pod_labels',
      'replicas_desired',
      'disabled',
      'allocation_strategy',
    ]);
    expect(stored.pod_labels).toEqual({ availability_zone: 'us-west', cluster_name: 'main' });
    expect(stored.replicas_desired).toBe(0);
    expect((await labels.get('replication_controller', rc.id)).labels).toEqual({
      pod_id: pod,
      team: 'core',
    });
  });

  it('mutates with CAS and refuses to delete an RC that still wants replicas', async () => {
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: 'fleet=x',
    });
    await rcs.setDesiredReplicas(rc.id, 2);
    await rcs.addDesiredReplicas(rc.id, -5);
    expect((await rcs.get(rc.id)).rc.replicasDesired).toBe(0);
    await rcs.setDesiredReplicas(rc.id, 1);
    await expect(rcs.delete(rc.id)).rejects.toMatchObject({ code: 'P2_RC_HAS_REPLICAS' });
    await rcs.disable(rc.id);
    expect((await rcs.get(rc.id)).rc.disabled).toBe(true);
    await expect(
      rcs.updateManifest(rc.id, parseManifest(manifestText('p2t-other'))),
    ).rejects.toMatchObject({
      code: 'P2_RC_INVALID_REQUEST',
    });
    await rcs.delete(rc.id, { force: true });
    await expect(rcs.get(rc.id)).rejects.toMatchObject({ code: 'P2_RC_NOT_FOUND' });
    expect((await labels.get('replication_controller', rc.id)).index).toBe(0);
  });

  it('refuses invalid pod labels at creation', async () => {
    await expect(
      rcs.create({
        manifest: parseManifest(manifestText(pod)),
        nodeSelector: 'x=y',
        podLabels: { team: 'two words' },
      }),
    ).rejects.toMatchObject({
      code: 'P2_RC_INVALID_REQUEST',
      message: expect.stringMatching(/team=two words/),
    });
  });

  it('concurrent replica changes are all applied', async () => {
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: 'fleet=x',
    });
    const racers = Array.from({ length: 6 }, () =>
      new RcStore(t.store, { casRetries: 50 }).addDesiredReplicas(rc.id, 1),
    );
    await Promise.all(racers);
    expect((await rcs.get(rc.id)).rc.replicasDesired).toBe(6);
  });
});

describe('RcStore.transferOps', () => {
  it('moves counts atomically and refuses unexpected starting counts', async () => {
    const a = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: 'x=y',
      replicasDesired: 3,
    });
    const b = await rcs.create({
      manifest: parseManifest(manifestText(pod, '2')),
      nodeSelector: 'x=y',
    });
    const ops = await rcs.transferOps({
      to: b.id,
      from: a.id,
      add: 2,
      remove: 1,
      startingTo: 0,
      startingFrom: 3,
    });
    expect((await t.store.txn(ops)).committed).toBe(true);
    expect((await rcs.get(a.id)).rc.replicasDesired).toBe(2);
    expect((await rcs.get(b.id)).rc.replicasDesired).toBe(2);
    // The same ops again: their CAS indexes are stale now.
    expect((await t.store.txn(ops)).committed).toBe(false);
    await expect(
      rcs.transferOps({ to: b.id, from: a.id, add: 1, remove: 1, startingTo: 0, startingFrom: 3 }),
    ).rejects.toMatchObject({ code: 'P2_RC_CONFLICT' });
  });
});

describe('reconcileRc against a real kv-server', () => {
  it('adds replicas on eligible nodes in name order, with labels, intent and an audit record', async () => {
    const names = nodes(4);
    await addNodes(names, (_, i) => ({ role: i === 3 ? 'db' : 'web' }));
    const manifest = parseManifest(manifestText(pod));
    const rc = await rcs.create({
      manifest,
      nodeSelector: `fleet=${fleet},role=web`,
      podLabels: { team: 'core' },
      availabilityZone: 'az1',
      clusterName: 'c1',
      replicasDesired: 2,
    });
    const result = await reconcileRc({ store: t.store }, rc);
    expect(result.added).toEqual(names.slice(0, 2));
    expect(await intentNodes(t.store, pod)).toEqual(names.slice(0, 2));
    expect(await text(t.store, `intent/${names[0]}/${pod}`)).toBe(manifestText(pod));
    expect((await labels.get('pod', `${names[0]}/${pod}`)).labels).toEqual({
      availability_zone: 'az1',
      cluster_name: 'c1',
      pod_id: pod,
      replication_controller_id: rc.id,
      team: 'core',
    });
    const log = await audits(t.store, pod);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({
      eventType: 'REPLICATION_CONTROLLER_RETARGET',
      schemaVersion: 1,
      eventDetails: {
        pod_id: pod,
        availability_zone: 'az1',
        cluster_name: 'c1',
        nodes: names.slice(0, 2),
      },
    });

    // Idempotent: a second pass changes nothing.
    const again = await reconcileRc({ store: t.store }, rc);
    expect(again).toMatchObject({
      added: [],
      removed: [],
      rewritten: [],
      nodes: names.slice(0, 2),
    });

    // Scale up beyond the eligible set: places what fits, alerts, and reports the shortfall.
    const alerts: Alert[] = [];
    const bigger = await rcs.setDesiredReplicas(rc.id, 5);
    await expect(
      reconcileRc({ store: t.store, alert: (a) => alerts.push(a) }, bigger),
    ).rejects.toMatchObject({
      code: 'P2_RC_NOT_ENOUGH_NODES',
    });
    expect(await intentNodes(t.store, pod)).toEqual(names.slice(0, 3));
    expect(alerts[0]).toMatchObject({ urgency: 'low', incidentKey: rc.id });
    expect(alerts[0]!.description).toMatch(
      /5 replicas desired, 2 currentNodes, 3 eligible\. Scheduled on 1 nodes/,
    );

    // Scale down: the pods go, labels the RC applied go, the RC's other labels stay.
    await labels.setLabel('pod', `${names[0]}/${pod}`, 'operator-note', 'keep');
    const smaller = await rcs.setDesiredReplicas(rc.id, 1);
    const down = await reconcileRc({ store: t.store }, smaller);
    expect(down.removed).toHaveLength(2);
    expect(await intentNodes(t.store, pod)).toHaveLength(1);
    for (const node of down.removed) {
      const left = (await labels.get('pod', `${node}/${pod}`)).labels;
      expect(left.replication_controller_id).toBeUndefined();
    }
  });

  it('removes replicas on ineligible nodes first, and leaves them alone with static strategy', async () => {
    const names = nodes(3);
    await addNodes(names);
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 3,
    });
    await reconcileRc({ store: t.store }, rc);
    await labels.setLabel('node', names[1]!, 'fleet', 'retired');
    const same = await reconcileRc({ store: t.store }, rc);
    expect(same.removed).toEqual([]);
    expect(same.nodes).toContain(names[1]);
    const two = await rcs.setDesiredReplicas(rc.id, 2);
    const down = await reconcileRc({ store: t.store }, two);
    expect(down.removed).toEqual([names[1]]);
  });

  it('restores deleted intent and rewrites drifted intent, without an audit record', async () => {
    const names = nodes(2);
    await addNodes(names);
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 2,
    });
    await reconcileRc({ store: t.store }, rc);
    await t.store.delete(`intent/${names[0]}/${pod}`);
    await t.store.put(`intent/${names[1]}/${pod}`, manifestText(pod, 'drifted'));
    const result = await reconcileRc({ store: t.store }, rc);
    expect(result.rewritten).toEqual(names);
    expect(await text(t.store, `intent/${names[1]}/${pod}`)).toBe(manifestText(pod));
    expect(await audits(t.store, pod)).toHaveLength(1);
    // Same manifest with other formatting (same P2 SHA) is not drift.
    await t.store.put(`intent/${names[0]}/${pod}`, `# a comment\n${manifestText(pod)}`);
    expect((await reconcileRc({ store: t.store }, rc)).rewritten).toEqual([]);
  });

  it('a disabled RC changes nothing', async () => {
    const names = nodes(2);
    await addNodes(names);
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 2,
      disabled: true,
    });
    const result = await reconcileRc({ store: t.store }, rc);
    expect(result).toMatchObject({ added: [], removed: [], rewritten: [] });
    expect(await intentNodes(t.store, pod)).toEqual([]);
  });

  it('spreads across a topology label and respects node capacity', async () => {
    const names = nodes(6);
    await addNodes(names, (_, i) => ({
      availability_zone: ['a', 'a', 'a', 'b', 'b', 'c'][i]!,
      'p2.capacity/cpus': i === 5 ? '1' : '4',
    }));
    // Something else already uses 3 of node 4's cpus.
    await t.store.put(
      `intent/${names[3]}/p2t-hog${n}`,
      manifestText(`p2t-hog${n}`, '1', 'resource_limits:\n  cgroup:\n    cpus: 3\n'),
    );
    const rc = await rcs.create({
      manifest: parseManifest(
        manifestText(pod, '1', 'resource_limits:\n  cgroup:\n    cpus: 2\n    memory: 1G\n'),
      ),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 3,
      topologySpreadKey: 'availability_zone',
    });
    const result = await reconcileRc({ store: t.store }, rc);
    // az c only has a 1-cpu node, node 4 (az b) is full: a, b, then a again.
    expect(result.added).toEqual([names[0], names[4], names[1]]);
  });

  it('keeps every transaction within 64 ops and audits each one', async () => {
    const names = nodes(40);
    await addNodes(names);
    const sizes: number[] = [];
    const counting: Store = Object.create(t.store, {
      txn: {
        value: (ops: readonly TxnOp[]) => {
          sizes.push(ops.length);
          return t.store.txn(ops);
        },
      },
    });
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 40,
    });
    const result = await reconcileRc({ store: counting }, rc);
    expect(result.added).toHaveLength(40);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64);
    expect(sizes).toEqual([63, 19]);
    const log = await audits(t.store, pod);
    expect(
      log.map((a) => (a.eventDetails as { nodes: string[] }).nodes.length).sort((a, b) => a - b),
    ).toEqual([31, 40]);
  });

  it('refuses to write when its ownership session does not hold the lock', async () => {
    const names = nodes(1);
    await addNodes(names);
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 1,
    });
    const session = await t.store.createSession({
      ttlMs: 10_000,
      behavior: 'delete',
      lockDelayMs: 0,
    });
    await expect(reconcileRc({ store: t.store }, rc, { session })).rejects.toMatchObject({
      code: 'P2_RC_TXN_ROLLED_BACK',
    });
    expect(await intentNodes(t.store, pod)).toEqual([]);
    expect(await t.store.acquire(lockKeys.replicationController(rc.id), '', session)).toBe(true);
    expect((await reconcileRc({ store: t.store }, rc, { session })).added).toEqual(names);
    await t.store.destroySession(session);
  });

  it('dynamic strategy moves a replica off an ineligible node when health allows', async () => {
    const names = nodes(3);
    await addNodes(names);
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 2,
      allocationStrategy: 'dynamic_strategy',
    });
    await reconcileRc({ store: t.store }, rc);
    for (const node of names.slice(0, 2)) {
      await t.store.put(
        healthKey(pod, node),
        encodeHealthRecord({ podId: pod, node: node, status: 'passing', time: new Date() }),
      );
    }
    await labels.setLabel('node', names[0]!, 'fleet', 'retired');
    const health = new StoreHealthSource(t.store);
    // Without a health source nothing moves.
    expect((await reconcileRc({ store: t.store }, rc)).transferred).toBeUndefined();
    const moved = await reconcileRc({ store: t.store, health }, rc);
    expect(moved.transferred).toEqual({ from: names[0], to: names[2] });
    expect(await intentNodes(t.store, pod)).toEqual(names.slice(1));
  });

  it('dynamic transfer waits while the ineligible replica is healthy and another is not', async () => {
    const names = nodes(3);
    await addNodes(names);
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 2,
      allocationStrategy: 'dynamic_strategy',
    });
    await reconcileRc({ store: t.store }, rc);
    await t.store.put(
      healthKey(pod, names[0]!),
      encodeHealthRecord({ podId: pod, node: names[0]!, status: 'passing', time: new Date() }),
    );
    await t.store.put(
      healthKey(pod, names[1]!),
      encodeHealthRecord({ podId: pod, node: names[1]!, status: 'critical', time: new Date() }),
    );
    await labels.setLabel('node', names[0]!, 'fleet', 'retired');
    const health = new StoreHealthSource(t.store);
    expect((await reconcileRc({ store: t.store, health }, rc)).transferred).toBeUndefined();
  });

  it('a worker reacts to node label changes at once, not at its resync timeout', async () => {
    const names = nodes(2);
    await addNodes(names.slice(0, 1));
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 2,
    });
    const { worker, errors } = startWorker(rc.id);
    try {
      await eventually(async () => (await intentNodes(t.store, pod)).length === 1, 5_000);
      await addNodes(names.slice(1));
      await eventually(async () => (await intentNodes(t.store, pod)).length === 2, 5_000);
      expect(errors.some((e) => (e as { code?: string }).code === 'P2_RC_NOT_ENOUGH_NODES')).toBe(
        true,
      );
      await rcs.setDesiredReplicas(rc.id, 0);
      await eventually(async () => (await intentNodes(t.store, pod)).length === 0, 5_000);
    } finally {
      await worker.stop();
    }
  });
});

describe('the RC status record (P2: p2-rctl get-status)', () => {
  const statusText = (id: string) => text(t.store, rcStatusKey(id));
  /** As a preparer does: the pod runs (reality), then its check passes (health, written after). */
  const passing = async (node: string) => {
    const intent = (await t.store.get(intentKey(node, pod))).value;
    if (intent) await t.store.put(realityKey(node, pod), intent.value);
    await t.store.put(
      healthKey(pod, node),
      encodeHealthRecord({ podId: pod, node, status: 'passing', time: new Date() }),
    );
  };

  it('exists as {} from creation, is rewritten when missing, and goes with the RC', async () => {
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
    });
    expect(await statusText(rc.id)).toBe('{}');
    expect(await rcs.getStatus(rc.id)).toEqual({});
    // An RC P2's p2-rctl created has none: the next pass writes it.
    await t.store.delete(rcStatusKey(rc.id));
    expect(await rcs.getStatus(rc.id)).toBeUndefined();
    await reconcileRc({ store: t.store }, rc);
    expect(await statusText(rc.id)).toBe('{}');
    await rcs.delete(rc.id);
    expect(await statusText(rc.id)).toBeUndefined();
  });

  /** A dynamic RC with 2 passing replicas on 3 nodes, whose first node is then retired: one pass moves it. */
  async function moveOffFirstNode(names: string[]) {
    await addNodes(names.slice(0, 3));
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
      replicasDesired: 2,
      allocationStrategy: 'dynamic_strategy',
    });
    const ctx = { store: t.store, health: new StoreHealthSource(t.store) };
    await reconcileRc(ctx, rc);
    await passing(names[0]!);
    await passing(names[1]!);
    await labels.setLabel('node', names[0]!, 'fleet', 'retired');
    const moved = await reconcileRc(ctx, rc);
    expect(moved.transferred).toEqual({ from: names[0], to: names[2] });
    return { rc, ctx };
  }

  it('shows a node transfer until the new replica is passing', async () => {
    const names = nodes(4);
    const { rc, ctx } = await moveOffFirstNode(names);
    const status = await rcs.getStatus(rc.id);
    expect(status).toEqual({
      node_transfer: { old_node: names[0], new_node: names[2], id: expect.any(String) },
    });
    expect(status?.node_transfer?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
    expect(await statusText(rc.id)).toBe(
      `{"node_transfer":{"old_node":"${names[0]}","new_node":"${names[2]}","id":"${status?.node_transfer?.id}"}}`,
    );
    // Still in progress: the new replica reports nothing yet. Another ineligible replica (not
    // passing, so movable) waits for this transfer: one at a time.
    await addNodes([names[3]!]);
    await t.store.put(
      healthKey(pod, names[1]!),
      encodeHealthRecord({ podId: pod, node: names[1]!, status: 'critical', time: new Date() }),
    );
    await labels.setLabel('node', names[1]!, 'fleet', 'retired');
    const waiting = await reconcileRc(ctx, rc);
    expect(waiting.transferred).toBeUndefined();
    expect(waiting.nodeTransfer).toEqual(status?.node_transfer);
    expect(await rcs.getStatus(rc.id)).toEqual(status);
    // The new replica passes: the transfer completes, and the next one starts.
    await passing(names[2]!);
    await passing(names[3]!);
    const next = await reconcileRc(ctx, rc);
    expect(next.transferred).toEqual({ from: names[1], to: names[3] });
    expect((await rcs.getStatus(rc.id))?.node_transfer?.old_node).toBe(names[1]);
    // names[3]'s record predates its replica (no reality yet): it does not complete the transfer.
    expect((await reconcileRc(ctx, rc)).nodeTransfer?.new_node).toBe(names[3]);
    await passing(names[3]!);
    expect(await reconcileRc(ctx, rc)).not.toHaveProperty('nodeTransfer');
    expect(await statusText(rc.id)).toBe('{}');
  });

  it('clears an abandoned transfer: the new node lost its replica', async () => {
    const names = nodes(3);
    const { rc, ctx } = await moveOffFirstNode(names);
    // Scaled down before the new replica ever passed: it is the one removed.
    const one = await rcs.setDesiredReplicas(rc.id, 1);
    expect((await reconcileRc(ctx, one)).removed).toEqual([names[2]]);
    expect(await statusText(rc.id)).toBe('{}');
  });

  it("a worker removes the record when the RC is deleted without it (as P2's p2-rctl did)", async () => {
    const rc = await rcs.create({
      manifest: parseManifest(manifestText(pod)),
      nodeSelector: `fleet=${fleet}`,
    });
    const { worker, errors } = startWorker(rc.id);
    try {
      await t.store.delete(rcKey(rc.id));
      await worker.done;
      expect(await statusText(rc.id)).toBeUndefined();
      expect(errors).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});
