import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore, registerBackend } from './backend.js';
import { ConsulStore } from './consul.js';
import { KvErrorCodes } from './errors.js';
import { startTestServer } from './test-support.js';
import { watchKey } from './watch.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isP2Error(error) ? error.code : String(error);
  }
  return undefined;
}

describe('createStore', () => {
  it('selects the Consul backend from consul://, consul+https://, http(s):// and bare host:port', async () => {
    const { address, cleanup } = await startTestServer();
    cleanups.push(cleanup);
    for (const location of [`consul://${address}`, address, `http://${address}`]) {
      const store = createStore(location);
      expect(store).toBeInstanceOf(ConsulStore);
      expect(store.description).toBe(`consul://${address}`);
      await store.put('k', location);
      expect(new TextDecoder().decode((await store.get('k')).value?.value)).toBe(location);
      await store.close();
    }
    expect(createStore('https://127.0.0.1:8501').description).toBe('consul+https://127.0.0.1:8501');
    expect(createStore('consul+https://127.0.0.1:8501').description).toBe(
      'consul+https://127.0.0.1:8501',
    );
  });

  it('selects etcd for etcd:// (several hosts), and names unknown schemes clearly', () => {
    expect(createStore('etcd://127.0.0.1:2379').description).toBe('etcd://127.0.0.1:2379');
    expect(createStore('etcd://127.0.0.1:2379,127.0.0.1:22379').description).toContain(
      '127.0.0.1:22379',
    );
    const error = (() => {
      try {
        createStore('zk://127.0.0.1:2181');
      } catch (e) {
        return e as Error & { hint?: string };
      }
    })();
    expect(isP2Error(error, KvErrorCodes.UNSUPPORTED_BACKEND)).toBe(true);
    expect(error?.message).toContain('zk://');
    expect(error?.hint).toContain('etcd://');
    registerBackend('p2t-memoryless', () => ({ description: 'p2t' }) as never);
    expect(createStore('p2t-memoryless://x').description).toBe('p2t');
  });

  it('refuses unparseable locations and unreadable CA files', () => {
    expect(codeOf(() => createStore('consul://exa mple:99'))).toBe(KvErrorCodes.BAD_OPTIONS);
    expect(codeOf(() => createStore('consul+https://h:1?ca=/nonexistent/ca.pem'))).toBe(
      KvErrorCodes.BAD_OPTIONS,
    );
  });

  it('passes the ACL token (option or ?token=); without it the store answers P2_KV_PERMISSION_DENIED', async () => {
    const { address, cleanup } = await startTestServer({ aclToken: 'p2t-token' });
    cleanups.push(cleanup);
    const anonymous = createStore(`consul://${address}`);
    const error = await anonymous.put('k', 'v').catch((e: unknown) => e);
    expect(isP2Error(error, KvErrorCodes.PERMISSION_DENIED)).toBe(true);
    expect((error as Error).message).toContain('HTTP 403');
    expect((error as Error).message).not.toContain('p2t-token');
    for (const store of [
      createStore(`consul://${address}`, { token: 'p2t-token' }),
      createStore(`consul://${address}?token=p2t-token`),
    ]) {
      await store.put('k', 'v');
      await store.close();
    }
    await anonymous.close();
  });

  it('a stopped store is P2_KV_UNAVAILABLE with a hint; a cancelled read is P2_KV_ABORTED', async () => {
    const { address, cleanup } = await startTestServer();
    const store = new ConsulStore({ address });
    const { index } = await store.get('k');
    const controller = new AbortController();
    const pending = store
      .get('k', { index, waitMs: 30_000, signal: controller.signal })
      .catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    expect(isP2Error(await pending, KvErrorCodes.ABORTED)).toBe(true);
    await cleanup();
    const error = await store.get('k').catch((e: unknown) => e);
    expect(isP2Error(error, KvErrorCodes.UNAVAILABLE)).toBe(true);
    expect((error as { hint?: string }).hint).toContain('is the store running');
    expect((error as { hint?: string }).hint).toContain('--store');
    await store.close();
  });

  it('closing the store ends its watches with P2_KV_ABORTED instead of retrying forever', async () => {
    const { address, cleanup } = await startTestServer();
    cleanups.push(cleanup);
    const store = new ConsulStore({ address });
    const seen: unknown[] = [];
    const watching = (async () => {
      for await (const item of watchKey(store, 'k', { waitMs: 30_000 })) seen.push(item);
    })().catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await store.close();
    const ended = await watching;
    expect(isP2Error(ended, KvErrorCodes.ABORTED)).toBe(true);
    expect((ended as Error).message).toContain('was closed');
    expect(seen).toHaveLength(1);
  });

  it('reads a CA file for consul+https', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2t-kv-ca-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const store = createStore('consul+https://127.0.0.1:1', {
      tlsCaFile: join(dir, 'ca.pem'),
      datacenter: 'dc9',
    });
    expect(store.description).toBe('consul+https://127.0.0.1:1');
    await store.close();
  });
});
