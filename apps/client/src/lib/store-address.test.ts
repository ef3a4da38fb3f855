/**
 * Which store `p2` talks to without `--store`: `P2_STORE`, else Consul's `CONSUL_HTTP_ADDR`; and
 * Consul's `http://host:port` spelling as a store URL. Against a real kv-server.
 */

import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../test-support.js';

let h: Harness;
let address: string;

beforeAll(async () => {
  h = await startHarness('store-address');
  address = `127.0.0.1:${h.server.port}`;
  await h.store.put('debug/where', 'here');
});
afterAll(async () => {
  await h?.close();
});

const get = (args: string[], env: NodeJS.ProcessEnv) =>
  h.p2(['kv', 'get', 'debug/where', ...args], { env: { P2_STORE: undefined, ...env } });

describe('the store address', () => {
  it('honours CONSUL_HTTP_ADDR as host:port and as http://host:port', async () => {
    for (const value of [address, `http://${address}`]) {
      const r = await get([], { CONSUL_HTTP_ADDR: value });
      expect(r.err).toBe('');
      expect(r.code).toBe(ExitCode.OK);
      expect(r.out).toBe('here');
    }
  });

  it('prefers --store, then P2_STORE, over CONSUL_HTTP_ADDR', async () => {
    // Nothing listens on port 1: reaching it would fail the command.
    const nowhere = { CONSUL_HTTP_ADDR: '127.0.0.1:1' };
    expect((await get(['--store', `http://${address}`], nowhere)).out).toBe('here');
    expect((await get([], { ...nowhere, P2_STORE: h.url })).out).toBe('here');
    const refused = await get([], nowhere);
    expect(refused.code).toBe(ExitCode.FAILURE);
    expect(refused.err).toContain('127.0.0.1:1');
  });

  it('speaks HTTPS for https:// and CONSUL_HTTP_SSL (so a plain-HTTP store fails TLS)', async () => {
    for (const env of [
      { CONSUL_HTTP_ADDR: `https://${address}` },
      { CONSUL_HTTP_ADDR: address, CONSUL_HTTP_SSL: 'true' },
    ]) {
      const r = await get([], env);
      expect(r.code).toBe(ExitCode.FAILURE);
      expect(r.err).toContain(`consul+https://${address}`);
    }
  });
});
