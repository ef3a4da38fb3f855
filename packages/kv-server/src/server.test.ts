import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KvServer, type KvServerOptions, startKvServer } from './index.js';

let dataDir: string;
let server: KvServer;
let base: string;

async function start(options: Partial<KvServerOptions> = {}): Promise<void> {
  server = await startKvServer({ dataDir, port: 0, nodeName: 'p2t-node', ...options });
  base = `${server.url}/v1`;
}

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-kvs-'));
  await start();
});
afterEach(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function call(
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${base}${path}`, { method, body, headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}
function rawRequest(method: string, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path }, (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end('x');
  });
}
const put = (path: string, body = '') => call('PUT', path, body);
const json = (text: string) => JSON.parse(text) as Record<string, unknown>[];

describe('KV endpoint', () => {
  it('A7 keys with the legacy "seperator" spelling, sorted and folded, with an index header', async () => {
    for (const k of ['baz', 'bar', 'foo/sub1', 'foo/sub2', 'zip'])
      expect((await put(`/kv/${k}`, 'x')).text).toBe('true');
    const res = await call('GET', '/kv/?keys&seperator=/');
    expect(JSON.parse(res.text)).toEqual(['bar', 'baz', 'foo/', 'zip']);
    expect(Number(res.headers.get('x-consul-index'))).toBeGreaterThan(1);
  });

  it('A10 ?raw answers the bytes as text/plain with nosniff', async () => {
    await put('/kv/test', 'test');
    const res = await call('GET', '/kv/test?raw');
    expect(res.text).toBe('test');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-consul-index')).not.toBeNull();
  });

  it('A11/A12 conflicting flags → 400', async () => {
    const a = await put('/kv/test?cas=0&acquire=xxx');
    expect([a.status, a.text.startsWith('Conflicting flags')]).toEqual([400, true]);
    const d = await call('DELETE', '/kv/test?recurse&cas=0');
    expect([d.status, d.text.startsWith('Conflicting flags')]).toEqual([400, true]);
  });

  it('A13 a value over 512 KiB → 413 with sizes; nothing stored', async () => {
    const res = await put('/kv/big', 'x'.repeat(512 * 1024 + 1));
    expect(res.status).toBe(413);
    expect(res.text).toContain('Request body(524289 bytes) too large, max size: 524288 bytes');
    expect((await call('GET', '/kv/big')).status).toBe(404);
  });

  it('A14 missing key name → 400 on PUT and GET', async () => {
    expect(await put('/kv/')).toMatchObject({ status: 400, text: 'Missing key name' });
    expect(await call('GET', '/kv/')).toMatchObject({ status: 400, text: 'Missing key name' });
  });

  it("redirects a read of a path Consul would clean (P2's health list `health/<pod>//`), query kept", async () => {
    await put('/kv/health/hello/n1', '{"status":"passing"}');
    // Exactly what P2's inspect sends, before its client follows the redirect.
    const moved = await fetch(`${server.url}/v1/kv/health/hello//?recurse=`, {
      redirect: 'manual',
    });
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe('/v1/kv/health/hello/?recurse=');
    const followed = await fetch(`${server.url}/v1/kv/health/hello//?recurse=`);
    expect(followed.status).toBe(200);
    expect(json(await followed.text()).map((e) => e.Key)).toEqual(['health/hello/n1']);
    for (const [path, to] of [
      ['/v1/kv/a/./b', '/v1/kv/a/b'],
      ['/v1/kv/a/../b?keys', '/v1/kv/b?keys'],
      ['/v1//kv/x/', '/v1/kv/x/'],
    ] as const) {
      const r = await new Promise<{ status: number; location: string | undefined }>(
        (resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: server.port, path }, (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, location: res.headers.location });
          });
          req.on('error', reject);
          req.end();
        },
      );
      expect([path, r.status, r.location]).toEqual([path, 301, to]);
    }
  });

  it('invalid keys and paths → 400 with the key named', async () => {
    const slash = await put('/kv//lead', 'x');
    expect([slash.status, slash.text]).toEqual([
      400,
      `Invalid key name "/lead": must not begin with a '/'`,
    ]);
    // fetch would normalise the dots away; send the path as written.
    for (const path of ['/v1/kv/a/%2E%2E/b', '/v1/kv/a/../b', '/v1/kv/%20spaced']) {
      const traversal = await rawRequest('PUT', path);
      expect(traversal.status, path).toBe(400);
      expect(traversal.text).toMatch(/path traversal|spaces/);
    }
    expect((await put('/kv/%E0%A4%A', 'x')).status).toBe(400);
  });

  it('flags keep all 64 bits; a plain PUT resets them', async () => {
    await put('/kv/f?flags=18446744073709551615', 'x');
    expect((await call('GET', '/kv/f')).text).toContain('"Flags":18446744073709551615');
    expect((await put('/kv/f?flags=18446744073709551616', 'x')).status).toBe(400);
    await put('/kv/f', 'y');
    expect((await call('GET', '/kv/f')).text).toContain('"Flags":0');
  });

  it('an empty value is null in JSON (as Consul)', async () => {
    await put('/kv/empty', '');
    expect(json((await call('GET', '/kv/empty')).text)[0]?.Value).toBeNull();
  });

  it('D4/D6/D7 blocking parameters: no index answers at once; bad values → 400', async () => {
    await put('/kv/k', 'v');
    const started = Date.now();
    expect((await call('GET', '/kv/k?wait=10s')).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await call('GET', '/kv/k?index=5&wait=abc')).toMatchObject({
      status: 400,
      text: 'Invalid wait time',
    });
    expect(await call('GET', '/kv/k?index=-1')).toMatchObject({
      status: 400,
      text: 'Invalid index',
    });
    expect(await call('GET', '/kv/k?index=x')).toMatchObject({
      status: 400,
      text: 'Invalid index',
    });
    expect((await call('GET', '/kv/k?stale&consistent')).status).toBe(400);
  });

  it('D9 every KV read carries X-Consul-Index ≥ 1, KnownLeader and LastContact (also 404)', async () => {
    for (const path of ['/kv/missing', '/kv/missing?recurse']) {
      const res = await call('GET', path);
      expect(res.status).toBe(404);
      expect(Number(res.headers.get('x-consul-index'))).toBeGreaterThanOrEqual(1);
      expect(res.headers.get('x-consul-knownleader')).toBe('true');
      expect(res.headers.get('x-consul-lastcontact')).toBe('0');
    }
  });

  it('acquire with a missing or unknown session → 500 naming the problem', async () => {
    expect(await put('/kv/k?acquire=', 'x')).toMatchObject({
      status: 500,
      text: 'missing session',
    });
    const unknown = await put('/kv/k?acquire=0f8fad5b-d9cb-469f-a165-70867728950e', 'x');
    expect(unknown.status).toBe(500);
    expect(unknown.text).toContain('invalid session');
  });

  it('bad cas indexes → 400', async () => {
    expect((await put('/kv/k?cas=abc', 'x')).status).toBe(400);
    expect((await call('DELETE', '/kv/k?cas=-3')).status).toBe(400);
  });
});

describe('sessions endpoint', () => {
  it('E6 defaults: serfHealth, 15 s lock-delay in ns, release behaviour', async () => {
    const { ID } = JSON.parse((await put('/session/create')).text) as { ID: string };
    const res = await call('GET', `/session/info/${ID}`);
    expect(json(res.text)[0]).toMatchObject({
      ID,
      Node: 'p2t-node',
      NodeChecks: ['serfHealth'],
      LockDelay: 15_000_000_000,
      Behavior: 'release',
    });
    expect(Number(res.headers.get('x-consul-index'))).toBeGreaterThanOrEqual(1);
    expect(json((await call('GET', '/session/list')).text)).toHaveLength(1);
    expect(json((await call('GET', '/session/node/p2t-node')).text)).toHaveLength(1);
  });

  it('E7 Checks: [] creates a session without checks; LockDelay as ms string', async () => {
    const { ID } = JSON.parse(
      (await put('/session/create', '{"Checks":[],"LockDelay":"5000ms"}')).text,
    );
    expect(json((await call('GET', `/session/info/${ID}`)).text)[0]).toMatchObject({
      NodeChecks: [],
      LockDelay: 5_000_000_000,
    });
  });

  it('E9/E13 validation: unknown checks, TTL range, behaviour, lock-delay forms, bad JSON', async () => {
    const dne = await put('/session/create', '{"NodeChecks":["dne"]}');
    expect([dne.status, dne.text]).toEqual([500, "Missing check 'dne' registration"]);
    const ttl = await put('/session/create', '{"TTL":"5s"}');
    expect(ttl.status).toBe(500);
    expect(ttl.text).toContain('must be between [10s=24h0m0s]');
    expect((await put('/session/create', '{"TTL":"25h"}')).status).toBe(500);
    expect((await put('/session/create', '{"Behavior":"bogus"}')).text).toBe(
      "Invalid Behavior setting 'bogus'",
    );
    const numeric = JSON.parse((await put('/session/create', '{"LockDelay":15}')).text);
    expect(json((await call('GET', `/session/info/${numeric.ID}`)).text)[0]?.LockDelay).toBe(
      15_000_000_000,
    );
    expect((await put('/session/create', '{"LockDelay":"15"}')).status).toBe(400);
    expect((await put('/session/create', '{nope')).text).toMatch(/^Request decode failed/);
    expect((await put('/session/create', '{"Node":"elsewhere"}')).status).toBe(500);
  });

  it('E3/E11/E12 unknown sessions: renew → 404, info → [], destroy → true, empty id → 400', async () => {
    const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const renew = await put(`/session/renew/${id}`);
    expect([renew.status, renew.text]).toEqual([404, `Session id '${id}' not found`]);
    expect((await call('GET', `/session/info/${id}`)).text).toBe('[]');
    expect((await put(`/session/destroy/${id}`)).text).toBe('true');
    expect((await put('/session/destroy/')).status).toBe(400);
  });
});

describe('txn endpoint', () => {
  const op = (verb: string, key: string, extra: Record<string, unknown> = {}) => ({
    KV: { Verb: verb, Key: key, ...extra },
  });

  it('I16 malformed bodies → 400 "Failed to parse body"', async () => {
    for (const body of [
      'nope',
      '{"KV":{}}',
      '[1]',
      JSON.stringify([op('set', 'k', { Value: '%%%' })]),
    ]) {
      const res = await put('/txn', body);
      expect(res.status, body).toBe(400);
      expect(res.text).toMatch(/^Failed to parse body/);
    }
    const node = await put('/txn', JSON.stringify([{ Node: { Verb: 'get' } }]));
    expect([node.status, node.text]).toEqual([
      400,
      expect.stringContaining('supports only KV operations'),
    ]);
  });

  it('I5 128 operations commit; 129 → 413 (Consul ≥ 1.14)', async () => {
    const ops = Array.from({ length: 128 }, (_, i) => op('set', `t/${i}`, { Value: 'eA==' }));
    expect((await put('/txn', JSON.stringify(ops))).status).toBe(200);
    const res = await put('/txn', JSON.stringify([...ops, op('set', 't/x')]));
    expect([res.status, res.text]).toEqual([
      413,
      'Transaction contains too many operations (129 > 128)',
    ]);
  });

  it('a value over 512 KiB in a txn → 413 naming the key', async () => {
    const value = Buffer.alloc(512 * 1024 + 1).toString('base64');
    const res = await put('/txn', JSON.stringify([op('set', 'big', { Value: value })]));
    expect(res.status).toBe(413);
    expect(res.text).toMatch(/Value for key "big" is too large|Request body too large/);
  });

  it('unknown verbs and missing keys roll back with 409 and every error', async () => {
    const res = await put('/txn', JSON.stringify([op('frobnicate', 'k'), op('set', '')]));
    expect(res.status).toBe(409);
    expect(JSON.parse(res.text)).toEqual({
      Results: null,
      Errors: [
        { OpIndex: 0, What: 'unknown KV verb "frobnicate"' },
        { OpIndex: 1, What: 'Missing key name' },
      ],
    });
  });

  it('field names are case-insensitive and read-only txns carry no index header', async () => {
    expect(
      (await put('/txn', JSON.stringify([{ kv: { verb: 'set', key: 'a', value: 'eA==' } }])))
        .status,
    ).toBe(200);
    const res = await put('/txn', JSON.stringify([op('get', 'a')]));
    expect(JSON.parse(res.text).Results[0].KV.Value).toBe('eA==');
    expect(res.headers.get('x-consul-index')).toBeNull();
  });
});

describe('protocol and access', () => {
  it('unknown paths → 404, wrong methods → 405 with Allow, OPTIONS answers Allow', async () => {
    expect((await call('GET', '/nope')).status).toBe(404);
    const wrong = await call('POST', '/kv/x', 'x');
    expect([wrong.status, wrong.headers.get('allow')]).toEqual([405, 'GET,PUT,DELETE']);
    expect((await call('OPTIONS', '/txn')).headers.get('allow')).toBe('PUT');
  });

  it('ACL token: none → 403, wrong → 403 ACL not found; header, bearer and ?token= work', async () => {
    await server.close();
    await start({ aclToken: 's3cret' });
    const none = await put('/kv/a', 'x');
    expect(none.status).toBe(403);
    expect(none.text).toMatch(/^Permission denied/);
    const wrong = await call('PUT', '/kv/a', 'x', { 'X-Consul-Token': 'wrong' });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toMatch(/^ACL not found/);
    expect(wrong.text).toContain('/etc/p2/consul.token');
    expect((await call('PUT', '/kv/a', 'x', { 'X-Consul-Token': 's3cret' })).text).toBe('true');
    expect((await call('GET', '/kv/a', undefined, { Authorization: 'Bearer s3cret' })).status).toBe(
      200,
    );
    expect((await call('GET', '/kv/a?token=s3cret')).status).toBe(200);
    expect((await call('GET', '/status/leader')).status).toBe(200);
  });

  it('ACL default-deny: every endpoint but /v1/status/ refuses reads and writes without the token, with a hint', async () => {
    await server.close();
    const token = 'p2t-0123456789abcdef';
    const digest = createHash('sha256').update(token).digest('hex');
    await start({ aclTokenSha256: digest });
    const auth = { 'X-Consul-Token': token };
    expect((await call('PUT', '/kv/intent/n1/p', 'manifest', auth)).text).toBe('true');
    const denied: Array<[string, string, string?]> = [
      ['PUT', '/kv/intent/n1/evil', 'id: evil'],
      ['GET', '/kv/intent/n1/p'],
      ['GET', '/kv/intent/?recurse'],
      ['GET', '/kv/reality/?keys'],
      ['DELETE', '/kv/intent/n1/p'],
      ['PUT', '/txn', '[]'],
      ['PUT', '/session/create', '{}'],
      ['GET', '/session/list'],
      ['GET', '/catalog/nodes'],
      ['GET', '/agent/self'],
      ['GET', '/no/such/endpoint'],
    ];
    for (const [method, path, body] of denied) {
      const res = await call(method, path, body);
      expect([method, path, res.status]).toEqual([method, path, 403]);
      expect(res.text).toMatch(/^Permission denied/);
      expect(res.text).toContain('Hint: run as root so p2 finds /etc/p2/consul.token');
      expect(res.text).toContain('--token / CONSUL_HTTP_TOKEN');
      expect(res.headers.get('x-consul-index')).toBeNull();
    }
    // Nothing changed, and the digest itself is not a token.
    expect((await call('GET', '/kv/intent/n1/p?raw', undefined, auth)).text).toBe('manifest');
    expect((await call('GET', '/kv/intent/n1/evil', undefined, auth)).status).toBe(404);
    expect(
      (await call('GET', '/kv/intent/n1/p', undefined, { 'X-Consul-Token': digest })).status,
    ).toBe(403);
    // What Consul leaves open stays open (readiness probes).
    expect((await call('GET', '/status/leader')).status).toBe(200);
    expect((await call('GET', '/status/peers')).status).toBe(200);
  });

  it('refuses a malformed aclTokenSha256 or an empty aclToken', async () => {
    for (const options of [{ aclTokenSha256: 'abc' }, { aclToken: '' }]) {
      const error = await startKvServer({
        dataDir: join(dataDir, 'other'),
        port: 0,
        ...options,
      }).catch((e: unknown) => e);
      expect(isP2Error(error, 'P2_KV_SERVER_BAD_OPTIONS')).toBe(true);
    }
  });

  it('never crashes: garbage on the socket gets a 400 and the server keeps serving', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () =>
        socket.write('\x00\x01GARBAGE\r\n\r\n'),
      );
      socket.on('data', (chunk) => {
        expect(chunk.toString()).toContain('400');
        socket.destroy();
        resolve();
      });
    });
    expect((await put('/kv/alive', 'yes')).text).toBe('true');
  });
});

describe('durability', () => {
  it('acknowledged writes, sessions and tombstones survive a restart', async () => {
    await put('/kv/a', '1');
    await put('/kv/b', '2');
    await call('DELETE', '/kv/b');
    const { ID } = JSON.parse((await put('/session/create', '{"Behavior":"delete"}')).text);
    await put(`/kv/lock?acquire=${ID}`, 'held');
    const before = (await call('GET', '/kv/?recurse')).headers.get('x-consul-index');
    await server.close();
    await start();
    expect(json((await call('GET', '/kv/a')).text)[0]?.Value).toBe(
      Buffer.from('1').toString('base64'),
    );
    expect((await call('GET', '/kv/b')).status).toBe(404);
    expect((await call('GET', '/kv/?recurse')).headers.get('x-consul-index')).toBe(before);
    expect(json((await call('GET', '/kv/lock')).text)[0]?.Session).toBe(ID);
    expect(json((await call('GET', `/session/info/${ID}`)).text)).toHaveLength(1);
  });

  it('compaction writes a snapshot; replay gives the same state', async () => {
    await server.close();
    await start({ compactBytes: 4096 });
    for (let i = 0; i < 100; i++) await put(`/kv/c/${i}`, `value-${i}`);
    expect(existsSync(join(dataDir, 'snapshot.json'))).toBe(true);
    await server.close();
    await start();
    const keys = JSON.parse((await call('GET', '/kv/c/?keys')).text) as string[];
    expect(keys).toHaveLength(100);
  });

  it('a torn last log line (crash mid-append) is dropped; earlier records stay', async () => {
    await put('/kv/kept', 'yes');
    await server.close();
    writeFileSync(join(dataDir, 'kv.log'), '');
    appendFileSync(join(dataDir, 'snapshot.json'), '');
    await start();
    await put('/kv/kept2', 'yes');
    await server.close();
    appendFileSync(join(dataDir, 'kv.log'), '{"i":999,"put":[["torn"');
    await start();
    expect((await call('GET', '/kv/kept')).status).toBe(200);
    expect((await call('GET', '/kv/kept2')).status).toBe(200);
    expect((await call('GET', '/kv/torn')).status).toBe(404);
  });

  it('a corrupt record in the middle of the log refuses to start with a clear error', async () => {
    await server.close();
    writeFileSync(join(dataDir, 'kv.log'), 'not json\n{"i":5}\n');
    const error = await startKvServer({ dataDir, port: 0 }).catch((e: unknown) => e);
    expect(isP2Error(error, 'P2_KV_SERVER_DATA_CORRUPT')).toBe(true);
    writeFileSync(join(dataDir, 'kv.log'), '');
    await start();
  });

  it('a data directory held by a live process is refused', async () => {
    writeFileSync(join(dataDir, 'LOCK'), '1\n');
    const error = await startKvServer({ dataDir, port: 0 }).catch((e: unknown) => e);
    expect(isP2Error(error, 'P2_KV_SERVER_DATA_DIR')).toBe(true);
    expect((error as Error).message).toContain('in use by process 1');
    writeFileSync(join(dataDir, 'LOCK'), `${process.pid}\n`);
  });
});
