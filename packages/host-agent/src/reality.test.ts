/** StoreReality against a real kv-server: what converge records again after a wipe. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthStore, PodTree, StatusStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { StoreReality } from './reality.js';

let dir: string;
let server: KvServer;
let store: Store;
const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const manifest = parseManifest(
  'id: p2t-web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/web_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz\n',
);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-host-agent-reality-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
  store = createStore(`consul://127.0.0.1:${server.port}`);
});
afterEach(async () => {
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

it('converge records a wiped reality again: the legacy entry, the uuid index (exits kept)', async () => {
  const reality = new StoreReality(store, 'p2t-n1');
  await reality.write(manifest, '');
  await reality.write(manifest, UUID);
  const exit = { time: '2026-01-01T00:00:00Z', exit_code: 3, exit_status: 0 };
  await new StatusStore(store).recordProcessExits(UUID, [
    { launchable_id: 'app', entry_point: 'bin/launch', last_exit: exit },
  ]);
  const statusBefore = await store.get(`status/pods/${UUID}/preparer`);
  expect(await new PodTree(store, 'reality').deleteNode('p2t-n1')).toEqual(
    ['p2t-web', UUID].sort(),
  );

  await reality.converge(manifest, '');
  await reality.converge(manifest, UUID);
  expect(Buffer.from((await store.get('reality/p2t-n1/p2t-web')).value?.value ?? [])).toEqual(
    Buffer.from(manifest.raw),
  );
  const index = (await store.get(`reality/p2t-n1/${UUID}`)).value;
  expect(JSON.parse(Buffer.from(index?.value ?? []).toString('utf8'))).toEqual({ pod_key: UUID });
  // The status record (with the exit the reporter recorded) is left as it was.
  const statusAfter = await store.get(`status/pods/${UUID}/preparer`);
  expect(statusAfter.value?.modifyIndex).toBe(statusBefore.value?.modifyIndex);

  // Converged: nothing is written again.
  const indexBefore = (await store.get(`reality/p2t-n1/${UUID}`)).value?.modifyIndex;
  await reality.converge(manifest, UUID);
  expect((await store.get(`reality/p2t-n1/${UUID}`)).value?.modifyIndex).toBe(indexBefore);
});

it('converge writes a uuid pod whole when its status does not say launched with this manifest', async () => {
  const reality = new StoreReality(store, 'p2t-n1');
  await reality.converge(manifest, UUID);
  const { value } = await new StatusStore(store).get('pods', UUID, 'preparer');
  expect(value).toMatchObject({
    status: 'launched',
    manifest: new TextDecoder().decode(manifest.raw),
  });
  expect((await store.get(`reality/p2t-n1/${UUID}`)).value).toBeDefined();
});

it('converge over another version withdraws its health record in the same commit; over a wipe it keeps it', async () => {
  const reality = new StoreReality(store, 'p2t-n1');
  const v2 = parseManifest(`${new TextDecoder().decode(manifest.raw)}config:\n  v: 2\n`);
  const health = new HealthStore(store);
  const passing = {
    podId: 'p2t-web',
    node: 'p2t-n1',
    status: 'passing' as const,
    time: new Date(),
  };
  // v1 in reality with its record (as a deploy to v2 that ended before its reality write left it).
  await reality.write(manifest, '');
  await health.put(passing);
  const before = (await store.get('p2t-absent')).index;
  await reality.converge(v2, '', { withdrawHealth: true });
  expect((await store.get('p2t-absent')).index).toBe(before + 1);
  expect(Buffer.from((await store.get('reality/p2t-n1/p2t-web')).value?.value ?? [])).toEqual(
    Buffer.from(v2.raw),
  );
  expect(await health.get('p2t-web', 'p2t-n1')).toBeUndefined();

  // Wiped: the record is the running version's, and stays.
  await health.put(passing);
  await new PodTree(store, 'reality').deleteNode('p2t-n1');
  await reality.converge(v2, '', { withdrawHealth: true });
  expect((await health.get('p2t-web', 'p2t-n1'))?.status).toBe('passing');
});
