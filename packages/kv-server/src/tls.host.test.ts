/**
 * The store over HTTPS, for real: a certificate made with openssl by `ensureStoreCertificate`, the
 * key readable by one user only, and clients that pin the certificate — so a process that took
 * the store's port (a pod, while the store restarts) never receives the token. Needs root (it
 * hands the key to `nobody`); the temp dir starts with p2t- and is removed afterwards.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStoreCertificate, type KvServer, startKvServer } from './index.js';

const NOBODY = { uid: 65534, gid: 65534 };
let work = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-kvtls-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function get(port: number, ca: Buffer, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/kv/x', ca, headers: { 'X-Consul-Token': token } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy(new Error('timed out')));
    req.end();
  });
}

describe('ensureStoreCertificate', () => {
  it('makes a certificate (root 0644) and a key only the store user reads (0400), then reuses them', async () => {
    const dir = join(work, 'tls');
    const made = await ensureStoreCertificate({ dir, owner: NOBODY });
    expect(made.created).toBe(true);
    const cert = await stat(made.certPath);
    const key = await stat(made.keyPath);
    expect([cert.uid, cert.mode & 0o777]).toEqual([0, 0o644]);
    expect([key.uid, key.mode & 0o777]).toEqual([NOBODY.uid, 0o400]);
    expect(await readFile(made.certPath, 'utf8')).toContain('BEGIN CERTIFICATE');
    const again = await ensureStoreCertificate({ dir, owner: NOBODY });
    expect(again.created).toBe(false);
    // A key that belongs to someone else (the store's user changed) is made anew.
    const moved = await ensureStoreCertificate({ dir, owner: { uid: 0, gid: 0 } });
    expect(moved.created).toBe(true);
  });
});

describe('the store over HTTPS', () => {
  let server: KvServer;
  let cert: Buffer;

  beforeAll(async () => {
    const made = await ensureStoreCertificate({
      dir: join(work, 'srv'),
      owner: { uid: 0, gid: 0 },
    });
    cert = await readFile(made.certPath);
    server = await startKvServer({
      dataDir: join(work, 'data'),
      port: 0,
      aclToken: 'p2t-secret',
      tls: { cert, key: await readFile(made.keyPath) },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers a client that pins its certificate', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await get(server.port, cert, 'p2t-secret')).toBe(404);
    expect(await get(server.port, cert, 'wrong')).toBe(403);
  });

  it('a process on the port without the certificate receives no token from a pinned client', async () => {
    // A squatter serving TLS with a certificate of its own: the handshake fails, nothing is sent.
    const other = await ensureStoreCertificate({
      dir: join(work, 'other'),
      owner: { uid: 0, gid: 0 },
    });
    const received: Buffer[] = [];
    const squatter: TlsServer = createTlsServer(
      { cert: await readFile(other.certPath), key: await readFile(other.keyPath) },
      (socket) => {
        socket.on('data', (d) => received.push(d));
        socket.on('error', () => undefined);
      },
    );
    squatter.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    try {
      await expect(get(port, cert, 'p2t-secret')).rejects.toThrow(/self.signed|certificate/i);
      expect(Buffer.concat(received).includes('p2t-secret')).toBe(false);
    } finally {
      squatter.close();
    }
  });
});
