/**
 * Limits on blocking queries (per client, Consul's 10-minute cap on `?wait=`) and `?token=` kept
 * out of the logs — against an in-process server over real HTTP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseBlocking } from './http.js';
import { type KvServer, type KvServerOptions, startKvServer } from './index.js';

let dataDir: string;
let server: KvServer | undefined;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-kvs-limits-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

async function start(options: Partial<KvServerOptions> = {}): Promise<KvServer> {
  server = await startKvServer({ dataDir, port: 0, ...options });
  return server;
}

/** A GET from a chosen local address (any 127.x.y.z reaches the loopback listener). */
function get(
  path: string,
  localAddress = '127.0.0.1',
  signal?: AbortSignal,
): Promise<{ status: number; text: string; index: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server?.port, path, localAddress, signal, agent: false },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text,
            index: res.headers['x-consul-index'] as string | undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Sends short blocking queries until one is answered `status` (the held ones register async). */
async function until(status: number, path: string, localAddress?: string) {
  for (let i = 0; i < 200; i++) {
    const res = await get(path, localAddress);
    if (res.status === status) return res;
  }
  throw new Error(`never answered ${status}`);
}

it('refuses a blocking query over the per-client limit with 429 and a clear message; others and released slots are fine', async () => {
  const { url } = await start({ maxBlockingPerClient: 3 });
  await fetch(`${url}/v1/kv/watched`, { method: 'PUT', body: 'v1' });
  const index = (await get('/v1/kv/watched')).index;
  const abort = new AbortController();
  const held = [0, 1, 2].map((n) =>
    get(`/v1/kv/watched?index=${index}&wait=5m`, '127.0.0.1', n === 0 ? abort.signal : undefined),
  );
  held[0]?.catch(() => undefined);
  const probe = `/v1/kv/watched?index=${index}&wait=20ms`;
  const refused = await until(429, probe);
  expect(refused.text).toBe(
    'Too many concurrent blocking queries from 127.0.0.1: 3 held, the limit is 3; close some watches or raise --max-blocking-per-client',
  );
  // Another client (another source address) has its own allowance.
  expect((await get(probe, '127.0.0.2')).status).toBe(200);
  // A client that goes away gives its slot back.
  abort.abort();
  await until(200, probe);
  // A write wakes the held ones, which answer normally.
  await fetch(`${url}/v1/kv/watched`, { method: 'PUT', body: 'v2' });
  const [, a, b] = await Promise.allSettled(held);
  for (const r of [a, b]) {
    expect(r?.status).toBe('fulfilled');
    const value = (r as PromiseFulfilledResult<{ status: number; index: string }>).value;
    expect(value.status).toBe(200);
    expect(Number(value.index)).toBeGreaterThan(Number(index));
  }
});

it('clamps ?wait= above 10 minutes to 10 minutes (plus jitter), as Consul does, rather than refusing it', async () => {
  for (const wait of ['20m', '1h', '600001ms']) {
    const { waitMs } = parseBlocking(new URLSearchParams({ index: '5', wait }));
    expect(waitMs).toBeGreaterThanOrEqual(600_000);
    expect(waitMs).toBeLessThanOrEqual(600_000 * (17 / 16));
  }
  const { waitMs } = parseBlocking(new URLSearchParams({ index: '5', wait: '30s' }));
  expect(waitMs).toBeLessThanOrEqual(30_000 * (17 / 16));
  // Over HTTP: a 1-hour wait is accepted and answered when a write comes.
  const { url } = await start();
  await fetch(`${url}/v1/kv/w`, { method: 'PUT', body: 'a' });
  const index = (await get('/v1/kv/w')).index;
  const waiting = get(`/v1/kv/w?index=${index}&wait=1h`);
  await fetch(`${url}/v1/kv/w`, { method: 'PUT', body: 'b' });
  expect((await waiting).status).toBe(200);
  expect((await get('/v1/kv/w?index=1&wait=soon')).status).toBe(400);
});

it('never writes a ?token= from the query string to the logs (access, warning and error lines)', async () => {
  const secret = 'p2t-SECRET-token-value';
  let output = '';
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk);
        done();
      },
    }),
  );
  const { url } = await start({ aclToken: secret, logger, maxBlockingPerClient: 1 });
  expect((await fetch(`${url}/v1/kv/a?token=${secret}`, { method: 'PUT', body: 'x' })).status).toBe(
    200,
  );
  expect((await get(`/v1/kv/a?token=${secret}`)).status).toBe(200);
  expect((await get(`/v1/kv/a?dc=elsewhere&token=${secret}`)).status).toBe(500); // logged as a warning
  expect((await get('/v1/kv/a?token=p2t-wrong-SECRET')).status).toBe(403);
  expect((await get(`/v1/kv/a?TOKEN=${secret}&recurse`)).status).toBe(403);
  const index = (await get(`/v1/kv/a?token=${secret}`)).index;
  const held = get(`/v1/kv/a?index=${index}&wait=5m&token=${secret}`);
  await until(429, `/v1/kv/a?index=${index}&wait=20ms&token=${secret}`); // logged as a warning
  await fetch(`${url}/v1/kv/a?token=${secret}`, { method: 'PUT', body: 'y' });
  await held;
  expect(output).toContain('"url":"/v1/kv/a?token=[redacted]"');
  expect(output).toContain('No path to datacenter');
  expect(output).toContain('Too many concurrent blocking queries');
  expect(output).toContain('TOKEN=[redacted]&recurse');
  expect(output).not.toContain('SECRET');
});
