/** Test helpers: a real `@p2/kv-server` on loopback in a temporary directory. @internal */
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KvServer, type KvServerOptions, startKvServer } from '@p2/kv-server';
import { createStore, type Store } from './index.js';

/** A kv-server in `p2t-<name>-*` under the temp dir; `cleanup` closes it and removes the dir. */
export async function startTestServer(
  options: Partial<KvServerOptions> = {},
  name = 'kv',
): Promise<{ server: KvServer; address: string; cleanup: () => Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), `p2t-${name}-`));
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

export interface TestStore {
  store: Store;
  url: string;
  cleanup: () => Promise<void>;
}

/**
 * A store talking over HTTP to its own kv-server (sessions may be as short as 1 s, blocking reads
 * wait at most 2 s); `cleanup` closes both and removes the data dir. Used by the tests of
 * `@p2/keyspace` and of the controllers.
 */
export async function startTestStore(name: string): Promise<TestStore> {
  const { server, address, cleanup } = await startTestServer({ sessionTtlMinMs: 1_000 }, name);
  const store = createStore(`consul://${address}`, { waitMs: 2_000 });
  return {
    store,
    url: server.url,
    cleanup: async () => {
      await store.close();
      await cleanup();
    },
  };
}

/**
 * A throwaway CA (`ca.pem`, `ca.key`) and a server certificate for 127.0.0.1 (`srv.pem`, `srv.key`)
 * made with openssl in `dir`; with `client`, also a client certificate (`cli.pem`, `cli.key`,
 * extendedKeyUsage clientAuth). Keys are mode 0600. For the TLS and mTLS tests.
 */
export function makeTestCertificates(dir: string, options: { client?: boolean } = {}): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=p2t-ca',
  );
  writeFileSync(join(dir, 'srv.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  writeFileSync(join(dir, 'cli.cnf'), 'extendedKeyUsage=clientAuth\n');
  const made: Array<readonly [string, string]> = [['srv', '127.0.0.1']];
  if (options.client) made.push(['cli', 'p2t-preparer']);
  for (const [name, cn] of made) {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.cnf`,
    );
    chmodSync(join(dir, `${name}.key`), 0o600);
  }
}
