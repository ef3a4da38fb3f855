import { isP2Error } from '@p2/errors';
import { LabelStore, lockKeys, PodTree } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestText, startTestStore } from '../../controller-kit/src/test-support.js';
import { deallocatePod } from './deallocate.js';
import { RcStore } from './rcstore.js';

let store: Store;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ store, cleanup } = await startTestStore());
});
afterAll(() => cleanup());

async function placed(node: string, replicas: number, disabled = false) {
  const manifest = parseManifest(manifestText('p2t-dealloc'));
  const rc = await new RcStore(store).create({
    manifest,
    nodeSelector: 'role=web',
    replicasDesired: replicas,
    disabled,
  });
  await new PodTree(store, 'intent').setPod(node, manifest);
  await new LabelStore(store).setLabels('pod', `${node}/p2t-dealloc`, {
    replication_controller_id: rc.id,
  });
  return rc.id;
}

describe('deallocatePod', () => {
  it('deletes intent and labels, lowers the RC by one and leaves it enabled, lock released', async () => {
    const rc = await placed('n1', 2);
    const result = await deallocatePod(store, { node: 'n1', pod: 'p2t-dealloc', rc, user: 'u' });
    expect(result).toEqual({
      rc,
      replicasDesired: 1,
      removed: ['intent/n1/p2t-dealloc', 'labels/pod/n1/p2t-dealloc'],
    });
    expect((await store.get('intent/n1/p2t-dealloc')).value).toBeUndefined();
    expect((await store.get('labels/pod/n1/p2t-dealloc')).value).toBeUndefined();
    expect((await new RcStore(store).get(rc)).rc).toMatchObject({
      replicasDesired: 1,
      disabled: false,
    });
    expect((await store.get(lockKeys.replicationControllerUpdate(rc))).value).toBeUndefined();
  });

  it('keeps a disabled RC disabled', async () => {
    const rc = await placed('n2', 1, true);
    await deallocatePod(store, { node: 'n2', pod: 'p2t-dealloc', rc, user: 'u' });
    expect((await new RcStore(store).get(rc)).rc.disabled).toBe(true);
  });

  it('fails with P2_KV_LOCK_HELD while a rolling update holds the RC, changing nothing', async () => {
    const rc = await placed('n3', 1);
    const session = await store.createSession({ name: 'p2t-roll', ttlMs: 15_000, lockDelayMs: 1 });
    expect(await store.acquire(lockKeys.replicationControllerUpdate(rc), 'roll', session)).toBe(
      true,
    );
    const error = await deallocatePod(store, {
      node: 'n3',
      pod: 'p2t-dealloc',
      rc,
      user: 'u',
    }).catch((e: unknown) => e);
    expect(isP2Error(error, 'P2_KV_LOCK_HELD')).toBe(true);
    expect((await store.get('intent/n3/p2t-dealloc')).value).toBeDefined();
    await store.destroySession(session);
  });

  it('fails with P2_RC_NOT_FOUND for a controller that is gone', async () => {
    const error = await deallocatePod(store, {
      node: 'n4',
      pod: 'p2t-dealloc',
      rc: '00000000-0000-4000-8000-000000000000',
      user: 'u',
    }).catch((e: unknown) => e);
    expect(isP2Error(error, 'P2_RC_NOT_FOUND')).toBe(true);
  });
});
