import { type PodEvent, PodEventStore, PreparerStatusStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CRASHLOOP_WINDOW_MS,
  inspectStore,
  launchableExits,
  listNodes,
  suggestNodes,
} from './index.js';
import { startTestStore } from './test-support.js';

const POD = 'id: p2t-crash\n';
let store: Store;
let cleanup: () => Promise<void>;
const now = new Date('2026-06-01T12:00:00.000Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();
const exit = (s: number, exitCode = 1): PodEvent => ({
  time: ago(s),
  type: 'exit',
  service: 'p2t-crash__app__launch',
  launchable: 'app',
  exitCode,
  signal: null,
  message: `exited at ${ago(s)}`,
});

beforeAll(async () => {
  ({ store, cleanup } = await startTestStore());
  // As the preparer writes them: its status record (with the services' last exits) and the event
  // ring (one `exit` event per exit it noticed, after the deploy's `deployed` event).
  for (const node of ['c1', 'c2']) {
    await store.put(`intent/${node}/p2t-crash`, POD);
    await store.put(`reality/${node}/p2t-crash`, POD);
  }
  const statuses = new PreparerStatusStore(store);
  const events = new PodEventStore(store);
  await statuses.publish('c1', {
    pod: 'p2t-crash',
    uniqueKey: '',
    state: 'running',
    processes: [
      {
        service: 'p2t-crash__app__launch',
        launchable: 'app',
        state: 'run',
        pid: 42,
        lastExit: { time: ago(2), exitCode: 1, signal: null },
      },
    ],
    updated: ago(1),
  });
  await events.append('c1', 'p2t-crash', [
    exit(3600), // before the current deploy: not a restart of this version
    { time: ago(600), type: 'deployed' },
    exit(400), // outside the window
    exit(20),
    exit(12),
    exit(7),
  ]);
  // c2: two exits long ago then quiet — restarts, but no crash loop.
  await statuses.publish('c2', {
    pod: 'p2t-crash',
    uniqueKey: '',
    state: 'running',
    updated: ago(1),
  });
  await events.append('c2', 'p2t-crash', [
    { time: ago(900), type: 'deployed' },
    exit(800, 2),
    exit(700, 2),
  ]);
});
afterAll(async () => {
  await cleanup?.();
});

describe('restarts and crash loops', () => {
  it('counts exits since the deploy and calls 3 within the window crashlooping', async () => {
    const { pods } = await inspectStore(store, { now });
    const [c1, c2] = pods;
    expect(c1).toMatchObject({ node: 'c1', verdict: 'crashlooping' });
    expect(c1?.exits).toEqual([
      {
        launchable: 'app',
        restarts: 4,
        recentExits: 3,
        lastExit: { time: ago(2), exitCode: 1, signal: null },
      },
    ]);
    expect(c2).toMatchObject({ node: 'c2', verdict: 'converged' });
    expect(c2?.exits?.[0]).toMatchObject({
      restarts: 2,
      recentExits: 0,
      lastExit: { exitCode: 2 },
    });
  });

  it('is no longer crashlooping once the window has passed', async () => {
    const later = new Date(now.getTime() + CRASHLOOP_WINDOW_MS);
    const { pods } = await inspectStore(store, { node: 'c1', now: later });
    expect(pods[0]?.verdict).toBe('converged');
  });

  it('keeps counting across a redeploy of the same version, and starts again for a new one', () => {
    const deployed = (s: number, sha: string): PodEvent => ({
      time: ago(s),
      type: 'deployed',
      sha,
    });
    // The preparer found the crashing pod down and deployed the same SHA again: still crashlooping.
    const same = [deployed(60, 'aa'), exit(50), exit(40), deployed(35, 'aa'), exit(30)];
    expect(launchableExits(undefined, same, now)).toMatchObject({
      launchables: [{ launchable: 'app', restarts: 3, recentExits: 3 }],
      crashlooping: true,
    });
    // A new version (or a rollback to an older one) starts from zero.
    const changed = [deployed(60, 'aa'), exit(50), exit(40), deployed(35, 'bb'), exit(30)];
    expect(launchableExits(undefined, changed, now)).toMatchObject({
      launchables: [{ restarts: 1, recentExits: 1 }],
      crashlooping: false,
    });
    const back = [...changed, deployed(20, 'aa'), exit(10)];
    expect(launchableExits(undefined, back, now).launchables[0]?.restarts).toBe(1);
  });

  it('has nothing to say about a pod that never exited', () => {
    expect(launchableExits(undefined, [], now)).toEqual({ launchables: [], crashlooping: false });
  });
});

describe('nodes', () => {
  it('lists nodes with a preparer, their verdicts and last seen, and suggests names', async () => {
    await store.put('labels/node/c3', '{"role":"spare"}');
    const nodes = await listNodes(store, await inspectStore(store, { now }));
    expect(nodes.map((n) => [n.node, n.status, n.preparer])).toEqual([
      ['c1', 'degraded', true],
      ['c2', 'ready', true],
      ['c3', 'no-preparer', false],
    ]);
    expect(nodes[0]).toMatchObject({
      pods: { intent: 1, reality: 1 },
      verdicts: { crashlooping: 1 },
      lastSeen: ago(1),
    });
    expect(nodes[2]?.labels).toEqual({ role: 'spare' });
    expect(suggestNodes('c4', ['c1', 'c2', 'db-1'])).toEqual(['c1', 'c2']);
    expect(suggestNodes('vm-typo', ['vm-type', 'db-1'])).toEqual(['vm-type']);
    expect(suggestNodes('zzzzzzzzzz', ['db-1'])).toEqual(['db-1']);
  });

  it("knows a node from its preparer's heartbeat alone: ready, then stale after 3 missed beats", async () => {
    const statuses = new PreparerStatusStore(store);
    await statuses.heartbeat({
      node: 'c9',
      version: '1.2.3',
      started: ago(120),
      seen: ago(60),
      heartbeatMs: 30_000,
    });
    const view = async (at: Date) =>
      (await listNodes(store, await inspectStore(store, { now }), at)).find((n) => n.node === 'c9');
    expect(await view(now)).toMatchObject({
      status: 'ready',
      preparer: true,
      version: '1.2.3',
      started: ago(120),
      lastSeen: ago(60),
      pods: { intent: 0, reality: 0 },
    });
    expect((await view(new Date(now.getTime() + 30_001)))?.status).toBe('stale');
    // A record that is not a heartbeat is skipped, not fatal.
    await store.put('status/nodes/c8/preparer', '{"seen":1}');
    expect((await listNodes(store)).some((n) => n.node === 'c8')).toBe(false);
  });
});
