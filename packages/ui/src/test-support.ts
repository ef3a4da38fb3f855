/**
 * Test helpers: a real `@p2/kv-server` that can be stopped and started again on the same port and
 * data (a store outage), a store with a token talking to it, and a seeded fleet. @internal
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePreparerStatus, PodEventStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';

/** Sent with every store request in the tests; must never show in a page or an answer. */
export const TEST_TOKEN = 'p2t-ui-token-8f3a1c';

/** A store whose server can be stopped (`down`) and started again (`up`) on the same port and data. */
export interface RestartableStore {
  store: Store;
  down(): Promise<void>;
  up(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startRestartableStore(): Promise<RestartableStore> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-ui-'));
  let server: KvServer | undefined = await startKvServer({ dataDir, port: 0, nodeName: 'p2t-ui' });
  const port = server.port;
  const store = createStore(`consul://127.0.0.1:${port}`, { token: TEST_TOKEN, waitMs: 2_000 });
  return {
    store,
    down: async () => {
      await server?.close();
      server = undefined;
    },
    up: async () => {
      server ??= await startKvServer({ dataDir, port, nodeName: 'p2t-ui' });
    },
    cleanup: async () => {
      await store.close();
      await server?.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A manifest with one hoist launchable at `version`, plus `extra` lines. */
export function manifestText(pod: string, version: string, extra = ''): string {
  return `id: ${pod}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/${pod}_${version}.tar.gz\n${extra}`;
}

/**
 * h1/hello converged (with a deploy whose steps are timed), h2/web pending, h3/api failed, each
 * pod labelled `app=<pod>`.
 */
export async function seedFleet(store: Store): Promise<void> {
  const hello = manifestText('hello', '1');
  await store.put('intent/h1/hello', hello);
  await store.put('reality/h1/hello', hello);
  await store.put('intent/h2/web', manifestText('web', '2'));
  await store.put('reality/h2/web', manifestText('web', '1'));
  await store.put('intent/h3/api', manifestText('api', '1'));
  await store.put(
    'status/preparer/h3/api',
    encodePreparerStatus({
      pod: 'api',
      uniqueKey: 'api',
      state: 'failed',
      error: 'fetching the artifact: 404',
      code: 'P2_HOIST_FETCH',
      updated: new Date().toISOString(),
    }),
  );
  for (const [node, pod] of [
    ['h1', 'hello'],
    ['h2', 'web'],
    ['h3', 'api'],
  ] as const) {
    await store.put(`labels/pod/${node}/${pod}`, JSON.stringify({ app: pod }));
  }
  await store.put('labels/node/h2', JSON.stringify({ zone: 'b' }));
  const now = Date.now();
  await new PodEventStore(store).append('h1', 'hello', [
    { time: new Date(now - 60_000).toISOString(), type: 'deploying' },
    {
      time: new Date(now - 50_000).toISOString(),
      type: 'deployed',
      steps: { fetch: 812, verify: 47, install: 233, launch: 91 },
      totalMs: 1183,
    },
    { time: new Date(now - 40_000).toISOString(), type: 'health', from: 'unknown', to: 'passing' },
    {
      time: new Date(now - 30_000).toISOString(),
      type: 'exit',
      launchable: 'app',
      exitCode: 3,
      signal: null,
    },
  ]);
}
