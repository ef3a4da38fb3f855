import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabelStore } from '@p2/keyspace';
import { createStore, findStoreToken, KvErrorCodes, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkStoreAccess, startControllerFarms } from './controller-farms.js';

const TOKEN = 'p2t-rc-controllers-0123456789abcdef';
let dir: string;
let server: KvServer;
let store: Store;
let url: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-rc-controllers-'));
  server = await startKvServer({
    dataDir: join(dir, 'kv'),
    port: 0,
    aclToken: TOKEN,
    sessionTtlMinMs: 1_000,
  });
  url = `consul://127.0.0.1:${server.port}`;
  store = createStore(url, { token: TOKEN });
});
afterEach(async () => {
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('startControllerFarms', () => {
  it('runs the farms asked for on the given store, and stop releases their locks', async () => {
    await new LabelStore(store).setLabels('node', 'p2t-n1', { role: 'web' });
    const rc = await new RcStore(store).create({
      manifest: parseManifest(
        'id: p2t-web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/p2t-web_1.tar.gz\n',
      ),
      nodeSelector: 'role=web',
      replicasDesired: 1,
    });
    const running = startControllerFarms({
      store,
      farms: ['rc'],
      resyncMs: 500,
      lockDelayMs: 1_000,
    });
    expect(running.farms).toEqual(['rc']);
    try {
      const deadline = Date.now() + 10_000;
      while ((await store.get('intent/p2t-n1/p2t-web')).value === undefined) {
        if (Date.now() > deadline) throw new Error('no intent written');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect((await store.keys('lock/replication_controllers/')).value).toEqual([
        `lock/replication_controllers/${rc.id}`,
      ]);
    } finally {
      await running.stop();
    }
    expect((await store.keys('lock/replication_controllers/')).value).toEqual([]);
  });
});

describe('checkStoreAccess', () => {
  it('passes with the token', async () => {
    const found = await findStoreToken({ flag: TOKEN, env: {} });
    await expect(checkStoreAccess(store, found)).resolves.toBeUndefined();
  });

  it('explains a missing token', async () => {
    const found = await findStoreToken({ env: { P2_TOKEN_FILE: join(dir, 'absent') } });
    const anonymous = createStore(url);
    try {
      const error = await checkStoreAccess(anonymous, found).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: KvErrorCodes.PERMISSION_DENIED,
        hint: expect.stringContaining('run as root so p2 finds /etc/p2/consul.token'),
      });
    } finally {
      await anonymous.close();
    }
  });
});
