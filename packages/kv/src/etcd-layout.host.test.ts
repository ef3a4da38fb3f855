/**
 * P2's key layout (the typed stores p2's packages use: PodTree, UuidPodStore, StatusStore,
 * HealthStore, RawLabelStore, RecordStore, AuditLogStore, watches, transactions) on real etcd: the
 * unchanged cases of `layout.test.ts`, with its two helpers swapped for etcd — `startTestServer`
 * returns a real etcd member's endpoint and `ConsulStore` is the etcd backend on a fresh prefix.
 */
import { afterAll, expect, vi } from 'vitest';
import type { EtcdCluster } from './etcd-test-support.js';

const shared = vi.hoisted(() => ({
  cluster: undefined as EtcdCluster | undefined,
  run: 0,
}));

vi.mock('./test-support.js', async () => {
  const { startEtcd } = await import('./etcd-test-support.js');
  return {
    startTestServer: async () => {
      shared.cluster ??= await startEtcd(1);
      return { server: undefined, address: shared.cluster.endpoints[0], cleanup: async () => {} };
    },
  };
});

vi.mock('./consul.js', async () => {
  const { EtcdStore } = await import('./etcd.js');
  class EtcdAsConsulStore extends EtcdStore {
    constructor(options: { address: string }) {
      super({
        endpoints: [options.address],
        prefix: `p2t-layout-${process.pid}-${++shared.run}/`,
        minSessionTtlMs: 2_000,
      });
    }
  }
  return { ConsulStore: EtcdAsConsulStore };
});

afterAll(async () => {
  await shared.cluster?.stop();
  expect(shared.run, 'the layout cases must have run on EtcdStore').toBeGreaterThan(0);
});

await import('./layout.test.js');
