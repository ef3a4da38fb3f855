import { defineStoreConformance } from './conformance.js';
import { ConsulStore } from './consul.js';
import { startTestServer } from './test-support.js';

defineStoreConformance('consul backend → @p2/kv-server over HTTP', async () => {
  const { server, address, cleanup } = await startTestServer({ sessionTtlMinMs: 1_000 });
  return {
    store: new ConsulStore({ address }),
    capabilities: { minSessionTtlMs: 1_000, reapTombstones: () => server.reapTombstones(0) },
    cleanup,
  };
});
