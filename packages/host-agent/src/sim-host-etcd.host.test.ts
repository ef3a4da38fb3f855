/**
 * The simulated host's store-write cases (`sim-host.test.ts`) on real etcd: the same cases, with
 * the store server swapped for an etcd member and `createStore` for the etcd backend on a fresh
 * prefix — so the health record's withdrawal in the reality transaction, and its session-held
 * key, are proven on both backends.
 */
import { afterAll, expect, vi } from 'vitest';
import type { EtcdCluster } from '../../kv/src/etcd-test-support.js';

const shared = vi.hoisted(() => ({
  cluster: undefined as EtcdCluster | undefined,
  run: 0,
}));

vi.mock('@p2/kv-server', async () => {
  const { startEtcd } = await import('../../kv/src/etcd-test-support.js');
  return {
    startKvServer: async () => {
      shared.cluster ??= await startEtcd(1);
      return { port: 0, close: async () => {} };
    },
  };
});

vi.mock('@p2/kv', async (importOriginal) => {
  const kv = await importOriginal<typeof import('@p2/kv')>();
  return {
    ...kv,
    createStore: () =>
      new kv.EtcdStore({
        endpoints: shared.cluster!.endpoints,
        prefix: `p2t-sim-${process.pid}-${++shared.run}/`,
        minSessionTtlMs: 2_000,
      }),
  };
});

afterAll(async () => {
  await shared.cluster?.stop();
  expect(shared.run, 'the cases must have run on EtcdStore').toBeGreaterThan(0);
});

await import('./sim-host.test.js');
