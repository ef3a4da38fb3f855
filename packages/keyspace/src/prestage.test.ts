import { ManifestBuilder } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrestageStore } from './prestage.js';
import { rawValue, startTestStore, type TestStore } from './test-support.js';

let t: TestStore;
beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await t?.cleanup();
});

const manifest = new ManifestBuilder()
  .setId('web')
  .setLaunchable('app', { launchableType: 'hoist', location: 'https://a.example/app_1.tar.gz' })
  .build();

describe('PrestageStore', () => {
  it('stores the raw manifest per node and pod, and the answer beside the status records', async () => {
    const prestage = new PrestageStore(t.store);
    const controller = new AbortController();
    const watch = prestage.watchNode('n1', { signal: controller.signal });
    expect((await watch.next()).value?.value).toEqual([]);
    await prestage.request('n1', manifest);
    expect(await rawValue(t.store, 'prestage/n1/web')).toBe(new TextDecoder().decode(manifest.raw));
    const seen = (await watch.next()).value?.value ?? [];
    expect(seen.map((r) => r.podId)).toEqual(['web']);
    expect(seen[0]?.manifest().sha()).toBe(manifest.sha());
    controller.abort();

    expect(await prestage.report('n1', 'web')).toBeUndefined();
    await prestage.setReport('n1', 'web', { sha: manifest.sha(), state: 'staged', updated: 'now' });
    expect(await prestage.report('n1', 'web')).toMatchObject({ state: 'staged' });
    expect(await rawValue(t.store, 'status/prestage/n1/web')).toContain('"staged"');
    await t.store.put('status/prestage/n1/web', '{"sha":1}');
    await expect(prestage.report('n1', 'web')).rejects.toMatchObject({ code: 'P2_KV_BAD_RECORD' });

    // A new request clears the previous answer, even for the same manifest.
    await prestage.setReport('n1', 'web', { sha: manifest.sha(), state: 'failed', updated: 'now' });
    await prestage.request('n1', manifest);
    expect(await prestage.report('n1', 'web')).toBeUndefined();
    await prestage.cancel('n1', 'web');
    expect(await rawValue(t.store, 'prestage/n1/web')).toBeUndefined();
    expect(await rawValue(t.store, 'status/prestage/n1/web')).toBeUndefined();
  });

  it('validates node and pod ids before any key', async () => {
    const prestage = new PrestageStore(t.store);
    await expect(prestage.request('../n', manifest)).rejects.toMatchObject({
      code: 'P2_KV_INVALID_KEY',
    });
    await expect(prestage.report('n1', 'a/b')).rejects.toMatchObject({
      code: 'P2_KV_INVALID_KEY',
    });
  });
});
