/**
 * `etcd+https://user:password@…?ca=…` end to end: a real etcd 3.4 member serving TLS with a
 * certificate from a throw-away openssl CA, with etcd authentication enabled.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from './backend.js';
import { KvErrorCodes } from './errors.js';
import { type EtcdCluster, startEtcd } from './etcd-test-support.js';
import { makeTestCertificates } from './test-support.js';

let dir: string;
let etcd: EtcdCluster | undefined;
const password = 'p2t-S3cret-pw';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-etcd-tls-'));
  makeTestCertificates(dir);
  etcd = await startEtcd(1, {
    certFile: join(dir, 'srv.pem'),
    keyFile: join(dir, 'srv.key'),
    caFile: join(dir, 'ca.pem'),
  });
  // Enable authentication: a root user (required by etcd) that p2 then logs in as.
  const { Etcd3 } = await import('etcd3');
  const admin = new Etcd3({
    hosts: etcd.members.map((m) => m.endpoint),
    credentials: { rootCertificate: await readFile(join(dir, 'ca.pem')) },
  });
  try {
    await admin.user('root').create(password);
    await admin.user('root').addRole('root');
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
}, 40_000);

afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('etcd+https with a CA file and credentials', () => {
  it('writes and reads through TLS as an authenticated user; the password is never shown', async () => {
    const url = `etcd+https://root:${password}@${etcd?.endpoints[0]}/p2t?ca=${join(dir, 'ca.pem')}`;
    const store = createStore(url);
    try {
      expect(store.description).toMatch(/^etcd\+https:\/\/127\.0\.0\.1:\d+\/p2t\/$/);
      await store.put('secure/k', 'v');
      expect(new TextDecoder().decode((await store.get('secure/k')).value?.value)).toBe('v');
    } finally {
      await store.close();
    }
  });

  it('a wrong password is P2_KV_PERMISSION_DENIED, without the password in the message', async () => {
    const store = createStore(
      `etcd+https://root:wrong-${password}@${etcd?.endpoints[0]}?ca=${join(dir, 'ca.pem')}`,
    );
    try {
      const error = await store.get('secure/k').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isP2Error(error, KvErrorCodes.PERMISSION_DENIED), String(error)).toBe(true);
      expect(String((error as Error).message)).not.toContain(password);
    } finally {
      await store.close();
    }
  });

  it('without the CA the server certificate is refused (P2_KV_UNAVAILABLE)', async () => {
    const store = createStore(`etcd+https://root:${password}@${etcd?.endpoints[0]}`);
    try {
      const error = await store.get('secure/k').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isP2Error(error, KvErrorCodes.UNAVAILABLE), String(error)).toBe(true);
    } finally {
      await store.close();
    }
  }, 20_000);
});
