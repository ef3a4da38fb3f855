/**
 * P2's key layout (the typed stores p2's packages use: PodTree, UuidPodStore, StatusStore,
 * HealthStore, LabelStore, AuditLogStore, watches, transactions) on real etcd: the unchanged cases
 * of `stores.test.ts`, with its two helpers swapped for etcd — `startTestServer` returns a real
 * etcd member's endpoint and `ConsulStore` is the etcd backend on a fresh prefix.
 */
import { afterAll, expect, vi } from 'vitest';
import type { EtcdCluster } from '../../kv/src/etcd-test-support.js';

const shared = vi.hoisted(() => ({
  cluster: undefined as EtcdCluster | undefined,
  run: 0,
}));

vi.mock('./test-support.js', async () => {
  const { startEtcd } = await import('../../kv/src/etcd-test-support.js');
  return {
    startTestServer: async () => {
      shared.cluster ??= await startEtcd(1);
      return { server: undefined, address: shared.cluster.endpoints[0], cleanup: async () => {} };
    },
  };
});

vi.mock('@p2/kv', async (importOriginal) => {
  const kv = await importOriginal<typeof import('@p2/kv')>();
  const { EtcdStore } = kv;
  class EtcdAsConsulStore extends EtcdStore {
    constructor(options: { address: string }) {
      super({
        endpoints: [options.address],
        prefix: `p2t-layout-${process.pid}-${++shared.run}/`,
        minSessionTtlMs: 2_000,
      });
    }
  }
  return { ...kv, ConsulStore: EtcdAsConsulStore };
});

afterAll(async () => {
  await shared.cluster?.stop();
  expect(shared.run, 'the layout cases must have run on EtcdStore').toBeGreaterThan(0);
});

await import('./stores.test.js');
