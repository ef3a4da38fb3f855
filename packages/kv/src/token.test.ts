/** Token lookup rules that need no root (the token files are this user's own). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KvError, KvErrorCodes } from './errors.js';
import {
  DEFAULT_STORE_CA_FILE,
  DEFAULT_TOKEN_FILE,
  defaultStoreUrl,
  explainDenied,
  findStoreToken,
  storeUrlFromEnv,
  tokenSha256,
} from './token.js';

describe('findStoreToken', () => {
  it('looks at /etc/p2/consul.token unless P2_TOKEN_FILE says otherwise; --token wins', async () => {
    expect(DEFAULT_TOKEN_FILE).toBe('/etc/p2/consul.token');
    expect(await findStoreToken({ flag: 'p2t-flag', env: {} })).toEqual({
      token: 'p2t-flag',
      source: 'flag',
      file: '/etc/p2/consul.token',
    });
    expect(
      await findStoreToken({
        flag: 'p2t-flag',
        env: { P2_TOKEN_FILE: '/p2t/other.token', CONSUL_HTTP_TOKEN: 'p2t-env' },
      }),
    ).toMatchObject({ token: 'p2t-flag', file: '/p2t/other.token' });
    expect(await findStoreToken({ env: { CONSUL_HTTP_TOKEN: 'p2t-env' } })).toMatchObject({
      token: 'p2t-env',
      source: 'CONSUL_HTTP_TOKEN',
    });
  });

  it("follows Consul's order (--token, --token-file, CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE); a named file must be readable", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2t-kv-token-'));
    try {
      await writeFile(join(dir, 'a.token'), 'p2t-from-a\n', { mode: 0o600 });
      await writeFile(join(dir, 'b.token'), 'p2t-from-b\n', { mode: 0o600 });
      const env = { CONSUL_HTTP_TOKEN_FILE: join(dir, 'b.token') };
      expect(await findStoreToken({ tokenFile: join(dir, 'a.token'), env })).toMatchObject({
        token: 'p2t-from-a',
        source: 'token-file',
        file: join(dir, 'a.token'),
      });
      expect(
        await findStoreToken({ tokenFile: join(dir, 'a.token'), flag: 'p2t-flag', env }),
      ).toMatchObject({ token: 'p2t-flag', source: 'flag' });
      expect(await findStoreToken({ env })).toMatchObject({
        token: 'p2t-from-b',
        source: 'CONSUL_HTTP_TOKEN_FILE',
      });
      expect(await findStoreToken({ env: { ...env, CONSUL_HTTP_TOKEN: 'p2t-env' } })).toMatchObject(
        { token: 'p2t-env', source: 'CONSUL_HTTP_TOKEN' },
      );
      const missing = await findStoreToken({ tokenFile: join(dir, 'none'), env: {} }).catch(
        (e: unknown) => e,
      );
      expect(missing).toMatchObject({ code: KvErrorCodes.TOKEN_FILE_UNREADABLE });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('explainDenied', () => {
  it('leaves other errors alone and never repeats the token', () => {
    const other = new KvError(KvErrorCodes.UNAVAILABLE, 'down');
    expect(explainDenied(other, { token: undefined, source: undefined, file: 'f' })).toBe(other);
    const denied = new KvError(
      KvErrorCodes.PERMISSION_DENIED,
      'GET k failed: HTTP 403 ACL not found',
    );
    const explained = explainDenied(denied, {
      token: 'p2t-secret',
      source: 'flag',
      file: DEFAULT_TOKEN_FILE,
    }) as KvError;
    expect(explained.code).toBe(KvErrorCodes.PERMISSION_DENIED);
    expect(explained.message).toContain('the token given with --token was refused');
    expect(explained.message).not.toContain('p2t-secret');
    expect(explained.cause).toBe(denied);
  });
});

describe('tokenSha256', () => {
  it('is the hex SHA-256 of the token', () => {
    expect(tokenSha256('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('defaultStoreUrl', () => {
  it('is the pinned HTTPS store where p2-bootstrap made its certificate, plain HTTP elsewhere', () => {
    expect(DEFAULT_STORE_CA_FILE).toBe('/etc/p2/tls/kv.pem');
    const here = new URL(import.meta.url).pathname; // any file that exists
    expect(defaultStoreUrl(here)).toBe(`consul+https://127.0.0.1:8500?ca=${here}`);
    expect(defaultStoreUrl('/nonexistent/p2t/kv.pem')).toBe('consul://127.0.0.1:8500');
  });
});

describe('storeUrlFromEnv', () => {
  const noCa = '/nonexistent/p2t-kv.pem';
  it('takes P2_STORE, else CONSUL_HTTP_ADDR as Consul reads it, else the local store', () => {
    const addr = '10.0.0.5:8500';
    expect(storeUrlFromEnv({ P2_STORE: 'etcd://h:2379', CONSUL_HTTP_ADDR: addr }, noCa)).toBe(
      'etcd://h:2379',
    );
    expect(storeUrlFromEnv({ CONSUL_HTTP_ADDR: addr }, noCa)).toBe(`consul://${addr}`);
    expect(storeUrlFromEnv({ CONSUL_HTTP_ADDR: addr, CONSUL_HTTP_SSL: 'true' }, noCa)).toBe(
      `consul+https://${addr}`,
    );
    expect(storeUrlFromEnv({ CONSUL_HTTP_ADDR: addr, CONSUL_HTTP_SSL: 'false' }, noCa)).toBe(
      `consul://${addr}`,
    );
    expect(storeUrlFromEnv({ CONSUL_HTTP_ADDR: `https://${addr}` }, noCa)).toBe(`https://${addr}`);
    expect(storeUrlFromEnv({ P2_STORE: '', CONSUL_HTTP_ADDR: ' ' }, noCa)).toBe(
      'consul://127.0.0.1:8500',
    );
  });
});
