import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveIdPrefix } from './id-prefix.js';
import { startTestStore, type TestStore } from './test-support.js';

let t: TestStore;
beforeAll(async () => {
  t = await startTestStore();
  for (const id of ['8f71ed74-aaaa', '8f72aaaa-bbbb', 'c0ffee'])
    await t.store.put(`replication_controllers/${id}`, '{}');
  await t.store.put('rolls/8f71ed74-aaaa', '{}');
});
afterAll(async () => {
  await t?.cleanup();
});

describe('resolveIdPrefix', () => {
  it('resolves a unique prefix to the whole id, and keeps an exact id', async () => {
    expect(await resolveIdPrefix(t.store, 'replication_controllers/', '8f71')).toBe(
      '8f71ed74-aaaa',
    );
    expect(await resolveIdPrefix(t.store, 'replication_controllers/', 'c0ffee')).toBe('c0ffee');
    expect(await resolveIdPrefix(t.store, 'rolls/', '8f')).toBe('8f71ed74-aaaa');
  });

  it('leaves a prefix that matches nothing as given', async () => {
    expect(await resolveIdPrefix(t.store, 'replication_controllers/', 'dead')).toBe('dead');
    expect(await resolveIdPrefix(t.store, 'daemon_sets/', '8f')).toBe('8f');
  });

  it('refuses an ambiguous prefix, listing the candidates', async () => {
    const error = await resolveIdPrefix(t.store, 'replication_controllers/', '8f7').catch((e) => e);
    expect(isP2Error(error, 'P2_KV_INVALID_KEY')).toBe(true);
    expect((error as Error).message).toContain('8f71ed74-aaaa, 8f72aaaa-bbbb');
    expect((error as { details: { candidates: string[] } }).details.candidates).toEqual([
      '8f71ed74-aaaa',
      '8f72aaaa-bbbb',
    ]);
  });
});
