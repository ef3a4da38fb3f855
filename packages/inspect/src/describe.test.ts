/** `describePod` and `podHistory` against a real kv-server: events and revisions joined per node. */
import { PodEventStore, PodHistoryStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePod, podHistory } from './index.js';
import { startTestStore } from './test-support.js';

const APP = `https://artifacts.example.com/app_${'b'.repeat(40)}.tar.gz`;
const V1 = `id: p2t-api\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${APP}\n`;
const V2 = `${V1}config:\n  v: 2\n`;
const sha = (text: string) => parseManifest(text).sha();

let store: Store;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ store, cleanup } = await startTestStore());
  await store.put('intent/n1/p2t-api', V2);
  await store.put('reality/n1/p2t-api', V2);
  await store.put('intent/n2/p2t-api', V1);
  const events = new PodEventStore(store);
  await events.append('n1', 'p2t-api', [
    { time: '2026-12-05T00:00:00.000Z', type: 'deploying', sha: sha(V2) },
    { time: '2026-12-05T00:00:01.000Z', type: 'deployed', sha: sha(V2), steps: { install: 12 } },
    { time: '2026-12-05T00:00:02.000Z', type: 'exit', service: 's', exitCode: 3 },
  ]);
  await store.put('events/n2/p2t-api', 'garbage');
  const history = new PodHistoryStore(store);
  await history.record('n1', 'p2t-api', { sha: sha(V1), manifest: V1 });
  await history.record('n1', 'p2t-api', { sha: sha(V2), manifest: V2 });
});
afterAll(async () => {
  await cleanup();
});

describe('describePod', () => {
  it('joins the inspection with each node’s events and revisions; unreadable ones are problems', async () => {
    const d = await describePod(store, 'p2t-api', { events: 2 });
    expect(d.launchables).toEqual({ app: { location: APP, version: 'b'.repeat(40) } });
    expect(d.nodes.map((n) => [n.node, n.verdict])).toEqual([
      ['n1', 'converged'],
      ['n2', 'pending'],
    ]);
    const [n1, n2] = d.nodes;
    expect(n1?.events.map((e) => e.type)).toEqual(['deployed', 'exit']); // the last 2
    expect(n1?.revisions.map((r) => [r.rev, r.sha])).toEqual([
      [1, sha(V1)],
      [2, sha(V2)],
    ]);
    expect(n2?.events).toEqual([]);
    expect(d.problems).toEqual([expect.objectContaining({ key: 'events/n2/p2t-api' })]);
    expect((await describePod(store, 'p2t-api', { node: 'n2' })).nodes).toHaveLength(1);
  });

  it('podHistory lists revisions per node with what intent holds', async () => {
    expect(await podHistory(store, 'p2t-api', { node: 'n1' })).toEqual([
      { node: 'n1', intentSha: sha(V2), revisions: expect.any(Array) },
    ]);
    const all = await podHistory(store, 'p2t-api');
    expect(all.map((n) => [n.node, n.revisions.length])).toEqual([
      ['n1', 2],
      ['n2', 0],
    ]);
  });
});
