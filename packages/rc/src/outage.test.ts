/**
 * A real store outage: the kv-server is closed under a running RC farm and started again on the
 * same port and data directory. The farm must survive (no crash, errors reported), get a new
 * session, re-claim its RC and keep reconciling.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabelStore } from '@p2/keyspace';
import { createStore } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, intentNodes, manifestText } from '../../controller-kit/src/test-support.js';
import { RcFarm } from './farm.js';
import { RcStore } from './rcstore.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

describe('RC farm across a store outage', () => {
  it('survives the kv-server going away and coming back', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'p2t-rc-outage-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    let server: KvServer = await startKvServer({ dataDir, port: 0, sessionTtlMinMs: 1_000 });
    const port = server.port;
    cleanups.push(() => server.close());
    const store = createStore(`consul://127.0.0.1:${port}`, { waitMs: 1_000 });
    cleanups.push(() => store.close());
    const labels = new LabelStore(store);
    const rcs = new RcStore(store);
    await labels.setLabel('node', 'p2t-out-1', 'fleet', 'out');
    const rc = await rcs.create({
      manifest: parseManifest(manifestText('p2t-out')),
      nodeSelector: 'fleet=out',
      replicasDesired: 2,
    });
    const errors: unknown[] = [];
    const farm = new RcFarm(
      { store },
      {
        sessionTtlMs: 2_000,
        lockDelayMs: 0,
        pollMs: 300,
        resyncMs: 300,
        onError: (e) => errors.push(e),
      },
    ).start();
    cleanups.push(() => farm.stop());
    await eventually(async () => (await intentNodes(store, 'p2t-out')).length === 1);
    const firstSession = farm.session;

    await server.close();
    await sleep(3_000);
    expect(errors.length).toBeGreaterThan(0);
    server = await startKvServer({ dataDir, port, sessionTtlMinMs: 1_000 });

    // Acknowledged writes survived; the farm comes back with a new session and reacts again.
    expect((await rcs.get(rc.id)).rc.replicasDesired).toBe(2);
    await labels.setLabel('node', 'p2t-out-2', 'fleet', 'out');
    await eventually(async () => (await intentNodes(store, 'p2t-out')).length === 2, 20_000);
    expect(farm.owned).toEqual([rc.id]);
    expect(farm.session).not.toBe(firstSession);
  });
});
