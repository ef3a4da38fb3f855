import { PrestageStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStore, type TestStore } from '../../kv/src/test-support.js';
import { type NodeStage, prestage } from './prestage.js';
import { simulatePrestagers, testManifest } from './test-support.js';

let t: TestStore;
beforeAll(async () => {
  t = await startTestStore('replicate-prestage');
});
afterAll(async () => {
  await t?.cleanup();
});

describe('prestage', () => {
  it('requests the manifest on every node and waits for each staged answer', async () => {
    const nodes = ['p2t-s1', 'p2t-s2'];
    const manifest = testManifest('p2t-web', '2');
    const sim = await simulatePrestagers(t.store, 'p2t-web', nodes, () => ({ state: 'staged' }));
    const seen: NodeStage[] = [];
    try {
      const result = await prestage({
        store: t.store,
        manifest,
        nodes,
        pollMs: 20,
        onProgress: (n) => seen.push(n),
      });
      expect(result).toMatchObject({ podId: 'p2t-web', sha: manifest.sha() });
      expect(result.nodes).toEqual([
        { node: 'p2t-s1', state: 'staged' },
        { node: 'p2t-s2', state: 'staged' },
      ]);
      expect(seen.map((n) => n.node).sort()).toEqual(nodes);
    } finally {
      await sim.stop();
    }
  });

  it('names each node that failed (with its reason) or did not answer', async () => {
    const nodes = ['p2t-f1', 'p2t-f2', 'p2t-f3'];
    const manifest = testManifest('p2t-api', '3');
    // An answer about an older SHA does not count.
    await new PrestageStore(t.store).setReport('p2t-f3', 'p2t-api', {
      sha: testManifest('p2t-api', '2').sha(),
      state: 'staged',
      updated: '',
    });
    const sim = await simulatePrestagers(t.store, 'p2t-api', nodes, (node) =>
      node === 'p2t-f1'
        ? { state: 'staged' }
        : node === 'p2t-f2'
          ? { state: 'failed', reason: 'not authorized: unknown signer' }
          : undefined,
    );
    try {
      const error = await prestage({
        store: t.store,
        manifest,
        nodes,
        pollMs: 20,
        timeoutMs: 1500,
      }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'P2_RC_NOT_STAGED' });
      expect(String(error)).toMatch(/2 of 3 nodes/);
      expect(String(error)).toMatch(/p2t-f2 \(not authorized: unknown signer\)/);
      expect(String(error)).toMatch(/p2t-f3 \(no answer in time\)/);
    } finally {
      await sim.stop();
    }
  });

  it('without waiting, only writes the requests', async () => {
    const manifest = testManifest('p2t-nowait', '1');
    const result = await prestage({ store: t.store, manifest, nodes: ['p2t-n1'], wait: false });
    expect(result.nodes).toEqual([{ node: 'p2t-n1', state: 'requested' }]);
    expect((await t.store.get('prestage/p2t-n1/p2t-nowait')).value).toBeDefined();
  });
});
