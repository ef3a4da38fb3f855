/**
 * An etcd that requires client certificates (`--client-cert-auth --trusted-ca-file`), for real:
 * the etcd backend without a certificate is refused with an error that says so; with `cert_file`
 * and `key_file` (options or `?cert=&key=`) it works.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStore } from './backend.js';
import { KvErrorCodes } from './errors.js';
import { type EtcdCluster, startEtcd } from './etcd-test-support.js';
import { makeTestCertificates } from './test-support.js';

let dir: string;
let etcd: EtcdCluster | undefined;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-etcd-mtls-'));
  makeTestCertificates(dir, { client: true });
  etcd = await startEtcd(1, {
    certFile: file('srv.pem'),
    keyFile: file('srv.key'),
    caFile: file('ca.pem'),
    clientCert: { certFile: file('cli.pem'), keyFile: file('cli.key') },
  });
}, 40_000);

afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('works with the client certificate, given as options or in the URL', async () => {
  const byOptions = createStore(`etcd+https://${etcd?.endpoints[0]}/p2t`, {
    tlsCaFile: file('ca.pem'),
    tlsCertFile: file('cli.pem'),
    tlsKeyFile: file('cli.key'),
  });
  const byUrl = createStore(
    `etcd+https://${etcd?.endpoints[0]}/p2t?ca=${file('ca.pem')}&cert=${file('cli.pem')}&key=${file('cli.key')}`,
  );
  try {
    await byOptions.put('mtls/k', 'hello');
    expect(new TextDecoder().decode((await byUrl.get('mtls/k')).value?.value)).toBe('hello');
  } finally {
    await byOptions.close();
    await byUrl.close();
  }
});

it('is refused without one: P2_KV_UNAVAILABLE saying the store wants a client certificate', async () => {
  const store = createStore(`etcd+https://${etcd?.endpoints[0]}/p2t?ca=${file('ca.pem')}`);
  try {
    const error = await store.get('mtls/k').catch((e: unknown) => e);
    expect(isP2Error(error, KvErrorCodes.UNAVAILABLE), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/bad certificate|certificate required/);
    expect((error as { hint?: string }).hint).toMatch(/requires a client certificate/);
  } finally {
    await store.close();
  }
}, 30_000);
