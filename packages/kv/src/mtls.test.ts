import { chmodSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStore } from './backend.js';
import { KvErrorCodes } from './errors.js';
import { makeTestCertificates, startTestServer } from './test-support.js';

let dir: string;
let port: number;
let stopKv: () => Promise<void>;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-kv-mtls-'));
  makeTestCertificates(dir, { client: true });
  const kv = await startTestServer({
    tls: {
      cert: readFileSync(file('srv.pem')),
      key: readFileSync(file('srv.key')),
      clientCa: readFileSync(file('ca.pem')),
    },
  });
  stopKv = kv.cleanup;
  port = kv.server.port;
});

afterAll(async () => {
  await stopKv();
  await rm(dir, { recursive: true, force: true });
});

it('works with the client certificate (options or ?cert=&key= in the URL)', async () => {
  const byOptions = createStore(`consul+https://127.0.0.1:${port}`, {
    tlsCaFile: file('ca.pem'),
    tlsCertFile: file('cli.pem'),
    tlsKeyFile: file('cli.key'),
  });
  const byUrl = createStore(
    `consul+https://127.0.0.1:${port}?ca=${file('ca.pem')}&cert=${file('cli.pem')}&key=${file('cli.key')}`,
  );
  try {
    await byOptions.put('mtls/k', 'hello');
    expect(new TextDecoder().decode((await byUrl.get('mtls/k')).value?.value)).toBe('hello');
  } finally {
    await byOptions.close();
    await byUrl.close();
  }
});

it('is refused without a client certificate: P2_KV_UNAVAILABLE saying a certificate is required', async () => {
  const store = createStore(`consul+https://127.0.0.1:${port}`, { tlsCaFile: file('ca.pem') });
  const error = await store.get('mtls/k').catch((e: unknown) => e);
  await store.close();
  expect(isP2Error(error, KvErrorCodes.UNAVAILABLE)).toBe(true);
  expect((error as Error).message).toMatch(/certificate required/i);
  expect((error as { hint?: string }).hint).toMatch(/client certificate/);
});

it('refuses a key file group or others may read, without showing its contents', () => {
  chmodSync(file('cli.key'), 0o644);
  try {
    const error = (() => {
      try {
        createStore(`consul+https://127.0.0.1:${port}`, {
          tlsCaFile: file('ca.pem'),
          tlsCertFile: file('cli.pem'),
          tlsKeyFile: file('cli.key'),
        });
      } catch (e) {
        return e;
      }
    })();
    expect(isP2Error(error, KvErrorCodes.BAD_OPTIONS)).toBe(true);
    expect((error as Error).message).toMatch(/readable by group or others/);
    expect((error as Error).message).not.toContain('PRIVATE KEY');
  } finally {
    chmodSync(file('cli.key'), 0o600);
  }
});

it('refuses a certificate without its key, and a key that belongs to another certificate', () => {
  const attempt = (options: object) => {
    try {
      createStore(`consul+https://127.0.0.1:${port}`, options);
    } catch (e) {
      return e;
    }
  };
  const alone = attempt({ tlsCertFile: file('cli.pem') });
  expect(isP2Error(alone, KvErrorCodes.BAD_OPTIONS)).toBe(true);
  const mismatch = attempt({ tlsCertFile: file('cli.pem'), tlsKeyFile: file('srv.key') });
  expect(isP2Error(mismatch, KvErrorCodes.BAD_OPTIONS)).toBe(true);
  expect((mismatch as Error).message).not.toContain('PRIVATE KEY');
});
