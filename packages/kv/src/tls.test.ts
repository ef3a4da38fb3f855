import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStore } from './backend.js';
import { KvErrorCodes } from './errors.js';
import { makeTestCertificates, startTestServer } from './test-support.js';
import { watchKey } from './watch.js';

let dir: string;
let proxy: Server;
let port: number;
let stopKv: () => Promise<void>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-kv-tls-'));
  makeTestCertificates(dir);
  const kv = await startTestServer();
  stopKv = kv.cleanup;
  proxy = createServer(
    { key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.pem')) },
    (req, res) => {
      const upstream = request(
        {
          host: '127.0.0.1',
          port: kv.server.port,
          path: req.url,
          method: req.method,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    },
  );
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  port = (proxy.address() as AddressInfo).port;
});

afterAll(async () => {
  proxy.closeAllConnections();
  proxy.close();
  await stopKv();
  await rm(dir, { recursive: true, force: true });
});

it('talks TLS when given the CA file; blocking queries work through it', async () => {
  const store = createStore(`consul+https://127.0.0.1:${port}`, { tlsCaFile: join(dir, 'ca.pem') });
  try {
    await store.put('tls/k', 'secret');
    expect(new TextDecoder().decode((await store.get('tls/k')).value?.value)).toBe('secret');
    const controller = new AbortController();
    const seen: string[] = [];
    const write = new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
      store.put('tls/k', 'changed'),
    );
    for await (const { value } of watchKey(store, 'tls/k', { signal: controller.signal })) {
      seen.push(new TextDecoder().decode(value?.value));
      if (seen.length === 2) controller.abort();
    }
    await write;
    expect(seen).toEqual(['secret', 'changed']);
  } finally {
    await store.close();
  }
});

it('refuses a server whose certificate the CA did not sign: P2_KV_UNAVAILABLE naming the TLS error', async () => {
  const store = createStore(`consul+https://127.0.0.1:${port}`);
  const error = await store.get('tls/k').catch((e: unknown) => e);
  expect(isP2Error(error, KvErrorCodes.UNAVAILABLE)).toBe(true);
  expect((error as Error).message).toMatch(/certificate/i);
  await store.close();
});
