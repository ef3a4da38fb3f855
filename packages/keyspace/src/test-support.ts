/** Test helpers: a real `@p2/kv-server` on loopback and a `@p2/kv` store talking to it over HTTP. @internal */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, type Store } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';

export interface TestStore {
  store: Store;
  url: string;
  cleanup: () => Promise<void>;
}

export async function startTestStore(): Promise<TestStore> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-keyspace-'));
  const server = await startKvServer({
    dataDir,
    port: 0,
    nodeName: 'p2t-node',
    sessionTtlMinMs: 1_000,
  });
  const store = createStore(`consul://127.0.0.1:${server.port}`, { waitMs: 2_000 });
  return {
    store,
    url: server.url,
    cleanup: async () => {
      await store.close();
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A bare `@p2/kv-server` on loopback (the typed-store tests connect their own store to `address`). */
export async function startTestServer(): Promise<{
  address: string;
  cleanup: () => Promise<void>;
}> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-keyspace-'));
  const server = await startKvServer({ dataDir, port: 0, nodeName: 'p2t-node' });
  return {
    address: `127.0.0.1:${server.port}`,
    cleanup: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
