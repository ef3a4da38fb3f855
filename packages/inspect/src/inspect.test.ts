import { HealthStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectStore, p2InspectList, p2InspectTree, watchInspection } from './index.js';
import { startTestStore } from './test-support.js';

const APP = `https://artifacts.example.com/app_${'a'.repeat(40)}.tar.gz`;
const V1 = `id: p2t-web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${APP}\n`;
const V2 = 'id: p2t-web\nconfig:\n  v: 2\n';
const sha = (text: string) => parseManifest(text).sha();
const status = (state: string, manifest: string) =>
  JSON.stringify({ pod: 'p2t-web', uniqueKey: '', state, sha: sha(manifest), updated: 'x' });

let store: Store;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ store, cleanup } = await startTestStore());
  const health = new HealthStore(store);
  const time = new Date().toISOString();
  // n1 converged; n2 failed to deploy V2; n3 deploying V2; n4 pending; n5 removing; n6 unreadable.
  await store.put('intent/n1/p2t-web', V1);
  await store.put('reality/n1/p2t-web', V1);
  await health.put({
    podId: 'p2t-web',
    node: 'n1',
    service: 'p2t-web',
    status: 'passing',
    time,
    expires: '',
  });
  await store.put('intent/n2/p2t-web', V2);
  await store.put('reality/n2/p2t-web', V1);
  await store.put('status/preparer/n2/p2t-web', status('failed', V2));
  await store.put('intent/n3/p2t-web', V2);
  await store.put('status/preparer/n3/p2t-web', status('deploying', V2));
  await store.put('intent/n4/p2t-web', V2);
  await store.put('status/preparer/n4/p2t-web', status('failed', V1)); // an older version failed
  await store.put('reality/n5/p2t-web', V1);
  await store.put('intent/n6/p2t-broken', 'id: [unclosed\n');
});
afterAll(() => cleanup());

describe('inspectStore', () => {
  it('joins the four records per node and pod, with a verdict each', async () => {
    const { pods, problems } = await inspectStore(store, { pod: 'p2t-web' });
    expect(pods.map((p) => [p.node, p.verdict])).toEqual([
      ['n1', 'converged'],
      ['n2', 'failed'],
      ['n3', 'deploying'],
      ['n4', 'pending'],
      ['n5', 'removing'],
    ]);
    expect(pods[0]).toMatchObject({ intentSha: sha(V1), realitySha: sha(V1), health: 'passing' });
    expect(pods[1]?.status?.state).toBe('failed');
    expect(problems.map((p) => p.key)).toEqual(['intent/n6/p2t-broken']);
  });

  it('calls a pod whose preparer reverted the intended version reverted, not converged', async () => {
    const v1 = 'id: p2t-rev\n';
    const v2 = 'id: p2t-rev\nconfig:\n  v: 2\n';
    await store.put('intent/n9/p2t-rev', v2);
    await store.put('reality/n9/p2t-rev', v1);
    const reverted = { pod: 'p2t-rev', uniqueKey: '', state: 'reverted', updated: 'x' };
    await store.put('status/preparer/n9/p2t-rev', JSON.stringify({ ...reverted, sha: sha(v2) }));
    expect((await inspectStore(store, { pod: 'p2t-rev' })).pods[0]?.verdict).toBe('reverted');
    // Intent moved on to another version: the old revert says nothing about it.
    await store.put('intent/n9/p2t-rev', 'id: p2t-rev\nconfig:\n  v: 3\n');
    expect((await inspectStore(store, { pod: 'p2t-rev' })).pods[0]?.verdict).toBe('pending');
  });

  it('reads one node only, and collects launchables on request', async () => {
    const { pods } = await inspectStore(store, { node: 'n1', launchables: true });
    expect(pods).toHaveLength(1);
    expect(pods[0]?.intentLaunchables).toEqual({ app: { location: APP, version: 'a'.repeat(40) } });
  });

  it("renders P2's p2-inspect tree and list", async () => {
    const inspection = await inspectStore(store, { node: 'n1', launchables: true });
    expect(p2InspectTree(inspection)).toEqual({
      'p2t-web': {
        n1: {
          intent_manifest_sha: sha(V1),
          reality_manifest_sha: sha(V1),
          intent_versions: { app: { location: APP, version: { id: 'a'.repeat(40) } } },
          reality_versions: { app: { location: APP, version: { id: 'a'.repeat(40) } } },
          health: 'passing',
          intent_locations: [APP],
          reality_locations: [APP],
        },
      },
    });
    expect(p2InspectList(inspection)).toEqual([
      expect.objectContaining({ node: 'n1', pod: 'p2t-web', health: 'passing' }),
    ]);
  });

  it("keeps both SHAs in P2's format ('' for a side the pod is not on) and sorts its maps", async () => {
    const tree = p2InspectTree(await inspectStore(store, { launchables: true }));
    expect(Object.keys(tree)).toEqual([...Object.keys(tree)].sort());
    expect(Object.keys(tree['p2t-web'] ?? {})).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(tree['p2t-web']?.n5).toMatchObject({ intent_manifest_sha: '', intent_locations: [] });
    expect(tree['p2t-web']?.n5?.reality_manifest_sha).toMatch(/^[0-9a-f]{64}$/);
    expect(tree['p2t-web']?.n5).not.toHaveProperty('intent_versions');
  });
});

describe('watchInspection', () => {
  it('yields the current state, then again when the store changes', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const inspection of watchInspection(store, { node: 'n7' }, controller.signal)) {
      seen.push(inspection.pods.map((p) => p.verdict).join(',') || 'none');
      if (seen.length === 1) await store.put('intent/n7/p2t-web', V1);
      else break;
    }
    controller.abort();
    expect(seen).toEqual(['none', 'pending']);
  });
});
