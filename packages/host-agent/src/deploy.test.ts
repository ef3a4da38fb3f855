import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { type PodHost, PodLayout } from '@p2/pods';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deployPod, startHealthTracking } from './index.js';

let dir: string;
let server: KvServer;
let store: Store;
let app: Server;
let port: number;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-host-agent-deploy-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
  store = createStore(`consul://127.0.0.1:${server.port}`);
  // The previous version, still answering on its status port.
  app = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  port = (app.address() as AddressInfo).port;
});
afterEach(async () => {
  await new Promise((r) => app.close(r));
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('deployPod after a failed install', () => {
  it("checks the previous version's health again: it still answers", async () => {
    const old = parseManifest(
      `id: p2t-deploy\nstatus_port: ${port}\nstatus_http: true\nconfig:\n  v: 1\n`,
    );
    const next = parseManifest(
      `id: p2t-deploy\nstatus_port: ${port}\nstatus_http: true\nconfig:\n  v: 2\n`,
    );
    // The install failing (an artifact server answering 404) needs root to do for real; here the
    // host's install rejects as the real one does, and everything else is real.
    const host = {
      layout: (ref: { podId: string; uniqueKey?: string }) =>
        new PodLayout(join(dir, 'pods'), ref.podId, ref.uniqueKey ?? ''),
      runningManifest: async () => old,
      currentManifest: async () => old,
      checkRunAs: async () => undefined,
      install: async () => {
        throw new Error('download failed: 404');
      },
    } as unknown as PodHost;
    const health = startHealthTracking({
      store,
      node: 'p2t-n1',
      checkHost: '127.0.0.1',
      intervalMs: 100,
      timeoutMs: 1000,
      logger: pino({ level: 'silent' }),
    });
    try {
      health.tracker.track(old);
      const records = new HealthStore(store);
      const passing = async () => {
        for (let i = 0; i < 200; i++) {
          const r = await records.get('p2t-deploy', 'p2t-n1').catch(() => undefined);
          if (r?.status === 'passing') return true;
          await new Promise((res) => setTimeout(res, 25));
        }
        return false;
      };
      expect(await passing()).toBe(true);
      await expect(deployPod({ host, health: health.tracker }, next)).rejects.toThrow('404');
      // untrack withdrew the record before the deploy; the old version's check publishes it again.
      expect(await passing()).toBe(true);
    } finally {
      await health.close();
    }
  }, 30_000);
});
