/**
 * Extra headers on store requests: a real HTTP server on loopback records what the Consul backend
 * sends; headers that would carry the token are refused, and no message ever holds a value.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isP2Error } from '@p2/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from './backend.js';
import { KvErrorCodes } from './errors.js';
import { checkExtraHeaders } from './headers.js';

let server: Server;
let address = '';
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(404, { 'x-consul-index': '7' });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

const SECRET = 'p2t-s3cret-header-value';

describe('extra headers', () => {
  it('go with every request, beside the token (which no header replaces)', async () => {
    const store = createStore(`consul://${address}`, {
      token: 'the-token',
      headers: { 'X-Request-Source': 'p2t-deploys', 'X-Tenant': SECRET },
    });
    try {
      expect((await store.get('intent/n/p')).value).toBeUndefined();
    } finally {
      await store.close();
    }
    expect(seen.at(-1)).toMatchObject({
      'x-request-source': 'p2t-deploys',
      'x-tenant': SECRET,
      'x-consul-token': 'the-token',
    });
  });

  it('refuses a header that would carry the token, a client-owned or malformed one, never quoting a value', () => {
    for (const headers of <Record<string, string>[]>[
      { 'X-Consul-Token': SECRET },
      { authorization: `Bearer ${SECRET}` },
      { Host: SECRET },
      { 'Bad Name': SECRET },
      { 'X-Ok': `${SECRET}\r\nX-Consul-Token: x` },
    ]) {
      let error: unknown;
      try {
        checkExtraHeaders(headers);
      } catch (e) {
        error = e;
      }
      expect(isP2Error(error, KvErrorCodes.BAD_OPTIONS), JSON.stringify(Object.keys(headers))).toBe(
        true,
      );
      expect(JSON.stringify(error)).not.toContain(SECRET);
      expect(String((error as Error).message)).not.toContain(SECRET);
    }
    expect(() =>
      createStore(`consul://${address}`, { headers: { 'x-consul-token': 'x' } }),
    ).toThrow(/would replace the store's ACL token/);
  });

  it('are refused for etcd, which speaks gRPC', () => {
    expect(() => createStore('etcd://127.0.0.1:2379', { headers: { 'X-A': 'b' } })).toThrow(
      expect.objectContaining({ code: KvErrorCodes.BAD_OPTIONS }),
    );
  });
});
