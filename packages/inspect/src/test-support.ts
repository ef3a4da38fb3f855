/** Test helpers: a real `@p2/kv-server` on loopback and a `@p2/kv` store talking to it. @internal */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, type Store } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';

export interface TestStore {
  store: Store;
  cleanup: () => Promise<void>;
}

export async function startTestStore(): Promise<TestStore> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-inspect-'));
  const server = await startKvServer({ dataDir, port: 0 });
  const store = createStore(`consul://127.0.0.1:${server.port}`, { waitMs: 2_000 });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
