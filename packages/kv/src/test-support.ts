/** Test helpers: a real `@p2/kv-server` on loopback in a temporary directory. @internal */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KvServer, type KvServerOptions, startKvServer } from '@p2/kv-server';

export async function startTestServer(
  options: Partial<KvServerOptions> = {},
): Promise<{ server: KvServer; address: string; cleanup: () => Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-kv-'));
  const server = await startKvServer({ dataDir, port: 0, nodeName: 'p2t-node', ...options });
  return {
    server,
    address: `127.0.0.1:${server.port}`,
    cleanup: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
