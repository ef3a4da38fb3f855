import { RcError } from '@p2/controller-kit';
import { HealthStore, lockKeys, PodTree } from '@p2/keyspace';
import { acquireLock, KvError, startSession } from '@p2/kv';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestStore, type TestStore } from '../../kv/src/test-support.js';
import { lockMessage } from './lock.js';
import { type ReplicationProgress, replicate } from './replicate.js';
import { simulateNodes, testManifest } from './test-support.js';

let t: TestStore;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  t = await startTestStore('replicate');
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(async () => {
  await t?.cleanup();
});

/** Three nodes running v1 healthily; v2 is healthy except where `badV2` says. */
async function setup(name: string, badV2: string[] = []) {
  const pod = `p2t-${name}`;
  const nodes = [1, 2, 3].map((i) => `p2t-${name}-n${i}`);
  const sim = await simulateNodes(t.store, pod, nodes, {
    healthOf: (node, version) => (version === '2' && badV2.includes(node) ? 'critical' : 'passing'),
  });
  cleanups.push(() => sim.stop());
  const v1 = await replicate({
    store: t.store,
    manifest: testManifest(pod, '1'),
    nodes,
    minNodes: 0,
    lockMessage: lockMessage('p2t', 'setup'),
    pollMs: 50,
  });
  expect(v1.updated).toHaveLength(3);
  return { pod, nodes, health: new HealthStore(t.store), intent: new PodTree(t.store, 'intent') };
}

const passing = async (health: HealthStore, pod: string) =>
  [...(await health.forPod(pod)).values()].filter((r) => r.status === 'passing').length;

describe('replicate', () => {
  it('moves to the next node only once the updated one is healthy, keeping min-nodes healthy', async () => {
    const { pod, nodes, health, intent } = await setup('order');
    const events: ReplicationProgress[] = [];
    let done = false;
    let minPassing = 3;
    const sampler = (async () => {
      while (!done) {
        minPassing = Math.min(minPassing, await passing(health, pod));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const result = await replicate({
      store: t.store,
      manifest: testManifest(pod, '2'),
      nodes,
      minNodes: 2,
      lockMessage: lockMessage('p2t', 'test'),
      pollMs: 50,
      onProgress: (p) => events.push(p),
    }).finally(() => {
      done = true;
    });
    await sampler;
    expect(events.map((e) => e.event)).toEqual([
      'started',
      'healthy',
      'started',
      'healthy',
      'started',
      'healthy',
    ]);
    expect(events.every((e) => e.inProgress.length <= 1)).toBe(true);
    expect(minPassing).toBeGreaterThanOrEqual(2);
    expect(result).toMatchObject({ podId: pod, updated: nodes, alreadyDone: [] });
    for (const node of nodes) {
      const raw = (await intent.getPod(node, pod)).value!.raw;
      expect(Buffer.from(raw).equals(Buffer.from(testManifest(pod, '2').raw))).toBe(true);
    }
    expect((await t.store.get(lockKeys.replication(pod))).value).toBeUndefined();
  });

  it('stops on a node that never becomes healthy, naming it, and leaves later nodes alone', async () => {
    const { pod, nodes, intent } = await setup('stuck', ['p2t-stuck-n2']);
    const error = await replicate({
      store: t.store,
      manifest: testManifest(pod, '2'),
      nodes,
      minNodes: 2,
      timeoutMs: 1_500,
      lockMessage: lockMessage('p2t', 'test'),
      pollMs: 50,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RcError);
    expect(error).toMatchObject({ code: 'P2_RC_NOT_HEALTHY', details: { node: 'p2t-stuck-n2' } });
    expect((error as Error).message).toMatch(/node p2t-stuck-n2 did not become healthy/);
    const n3 = (await intent.getPod('p2t-stuck-n3', pod)).value!.manifest();
    expect(n3.config.version).toBe(1);
  });

  it('refuses min-nodes that leave nothing to update, and nodes without a preparer', async () => {
    const { pod, nodes } = await setup('refuse');
    const base = { store: t.store, lockMessage: 'p2t', manifest: testManifest(pod, '2') };
    await expect(replicate({ ...base, nodes, minNodes: 3 })).rejects.toMatchObject({
      code: 'P2_RC_INVALID_REQUEST',
    });
    await expect(replicate({ ...base, nodes: [...nodes, 'p2t-refuse-ghost'] })).rejects.toThrow(
      /no preparer on p2t-refuse-ghost/,
    );
  });

  it('the lock excludes a concurrent replication of the same pod', async () => {
    const { pod, nodes } = await setup('lock', ['p2t-lock-n1', 'p2t-lock-n2', 'p2t-lock-n3']);
    const stop = new AbortController();
    let started!: () => void;
    const startedOnce = new Promise<void>((r) => {
      started = r;
    });
    const first = replicate({
      store: t.store,
      manifest: testManifest(pod, '2'),
      nodes,
      lockMessage: lockMessage('alice', 'host-a'),
      pollMs: 50,
      signal: stop.signal,
      onProgress: () => started(),
    }).catch((e: unknown) => e);
    await startedOnce;
    const second = await replicate({
      store: t.store,
      manifest: testManifest(pod, '3'),
      nodes,
      lockMessage: lockMessage('bob', 'host-b'),
    }).catch((e: unknown) => e);
    expect(second).toMatchObject({ code: 'P2_RC_LOCKED' });
    expect((second as Error).message).toMatch(/already being replicated by "alice" from "host-a"/);
    stop.abort();
    expect(await first).toBeInstanceOf(KvError);
    expect((await t.store.get(lockKeys.replication(pod))).value).toBeUndefined();
  });

  it('a re-run after an interruption skips done nodes, once a dead run’s lock went with its session', async () => {
    const { pod, nodes } = await setup('rerun');
    const stop = new AbortController();
    const first = await replicate({
      store: t.store,
      manifest: testManifest(pod, '2'),
      nodes,
      minNodes: 2,
      lockMessage: lockMessage('p2t', 'first'),
      pollMs: 50,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.event === 'healthy') stop.abort();
      },
    }).catch((e: unknown) => e);
    expect(first).toMatchObject({ code: 'P2_KV_ABORTED' });

    // A run that died: its session is no longer renewed, so its lock outlives it only for the TTL.
    const dead = await startSession(t.store, {
      name: 'dead',
      ttlMs: 1_000,
      lockDelayMs: 0,
      behavior: 'delete',
    });
    await acquireLock(t.store, lockKeys.replication(pod), { session: dead });
    dead.abandon();
    const events: ReplicationProgress[] = [];
    const rerun = () =>
      replicate({
        store: t.store,
        manifest: testManifest(pod, '2'),
        nodes,
        minNodes: 2,
        lockMessage: lockMessage('p2t', 'rerun'),
        pollMs: 50,
        onProgress: (p) => events.push(p),
      });
    await expect(rerun()).rejects.toMatchObject({ code: 'P2_RC_LOCKED' });
    for (let i = 0; (await t.store.get(lockKeys.replication(pod))).value; i++) {
      expect(i).toBeLessThan(300);
      await new Promise((r) => setTimeout(r, 100));
    }
    const result = await rerun();
    expect(result.alreadyDone).toEqual(['p2t-rerun-n1']);
    expect(result.updated).toEqual(['p2t-rerun-n2', 'p2t-rerun-n3']);
    expect(events.filter((e) => e.node === 'p2t-rerun-n1').map((e) => e.event)).toEqual([
      'already',
    ]);
  });

  it('does not count a passing record written before the reality entry (the health gate)', async () => {
    const pod = 'p2t-stale';
    const node = 'p2t-stale-n1';
    const reality = new PodTree(t.store, 'reality');
    const health = new HealthStore(t.store);
    await reality.setPod(node, testManifest('p2-preparer', '1'));
    // The old pod's passing record, then the new version's reality (as a preparer that has not
    // checked the new pod yet leaves them).
    await health.put({ podId: pod, node, status: 'passing', time: new Date() });
    await new PodTree(t.store, 'intent').setPod(node, testManifest(pod, '2'));
    await reality.setPod(node, testManifest(pod, '2'));
    const options = {
      store: t.store,
      manifest: testManifest(pod, '2'),
      nodes: [node],
      minNodes: 0,
      lockMessage: lockMessage('p2t', 'stale'),
      pollMs: 50,
      timeoutMs: 300,
    };
    const error = await replicate(options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RcError);
    expect((error as RcError).message).toContain(`node ${node} did not become healthy`);
    // A record written after the reality entry counts: the re-run finds the node done.
    await health.put({ podId: pod, node, status: 'passing', time: new Date() });
    expect(await replicate(options)).toMatchObject({ updated: [], alreadyDone: [node] });
  });
});
