/**
 * A Consul client written by another project: npm's `@creditkarma/consul-client` (TypeScript, on
 * `got`; KV get/set/delete/watch and a catalog client) against the real `p2-kv-server` process with
 * ACLs on. It shares no code with `consul`, the client `@p2/kv` uses, and it sends its requests its
 * own way: values JSON-encoded, `Host: consul`, the token as an `X-Consul-Token` header it takes
 * from got options, and a watch made of blocking queries (`?index=` with Consul's default wait).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog, KvStore } from '@creditkarma/consul-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from './test-process.js';

const TOKEN = 'p2t-creditkarma-token';
let dataDir: string;
let proc: ServerProcess;
/** got retries GETs on 5xx with a back-off; a refused request should fail at once here. */
const noRetry = { retry: { limit: 0 } };
const authed = { ...noRetry, headers: { 'X-Consul-Token': TOKEN } };
let kv: KvStore;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-kvs-creditkarma-'));
  const tokenFile = join(dataDir, 'token');
  await writeFile(tokenFile, TOKEN, { mode: 0o600 });
  proc = await spawnServer(join(dataDir, 'data'), 0, ['--acl-token-file', tokenFile]);
  kv = new KvStore([proc.url], authed, 0);
});
afterAll(async () => {
  await proc?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('@creditkarma/consul-client KvStore against p2-kv-server', () => {
  it('set / get round-trip a JSON value; an absent key reads null', async () => {
    const value = { replicas: 3, manifest: 'id: p2t\n', labels: ['a', 'b'] };
    expect(await kv.set({ path: 'ck/app' }, value)).toBe(true);
    expect(await kv.get({ path: 'ck/app' })).toEqual(value);
    expect(await kv.set({ path: 'ck/app' }, 'plain')).toBe(true);
    expect(await kv.get({ path: 'ck/app' })).toBe('plain');
    expect(await kv.get({ path: 'ck/absent' })).toBeNull();
  });

  it('the server holds what the client wrote, as Consul would (JSON text, base64 on the wire)', async () => {
    await kv.set({ path: 'ck/raw' }, { n: 1 });
    const res = await fetch(`${proc.url}/v1/kv/ck/raw?raw`, {
      headers: { 'X-Consul-Token': TOKEN },
    });
    expect(await res.text()).toBe('{"n":1}');
  });

  it('delete answers true and removes the key; deleting again still answers true', async () => {
    await kv.set({ path: 'ck/gone' }, 1);
    expect(await kv.delete({ path: 'ck/gone' })).toBe(true);
    expect(await kv.get({ path: 'ck/gone' })).toBeNull();
    expect(await kv.delete({ path: 'ck/gone' })).toBe(true);
  });

  it('the datacenter: dc1 answers, another one is refused (Consul: "No path to datacenter")', async () => {
    await kv.set({ path: 'ck/dc', dc: 'dc1' }, 'here');
    expect(await kv.get({ path: 'ck/dc', dc: 'dc1' })).toBe('here');
    await expect(kv.get({ path: 'ck/dc', dc: 'elsewhere' })).rejects.toThrow(
      /No path to datacenter/,
    );
  });

  it('without the token, or with a wrong one, reads and writes are refused (403)', async () => {
    for (const headers of [{}, { 'X-Consul-Token': 'wrong' }]) {
      const anon = new KvStore([proc.url], { ...noRetry, headers }, 0);
      await expect(anon.get({ path: 'ck/app' })).rejects.toThrow(/Forbidden/);
      await expect(anon.set({ path: 'ck/app' }, 'x')).rejects.toThrow(/Forbidden/);
      await expect(anon.delete({ path: 'ck/app' })).rejects.toThrow(/Forbidden/);
    }
    expect(await kv.get({ path: 'ck/app' })).toBe('plain');
  });

  it('watch delivers the current value, then a change', async () => {
    await kv.set({ path: 'ck/watched' }, { v: 1 });
    // Counts the watch's answered requests, so that the test ends with none in flight.
    let answered = 0;
    let onAnswer = () => {};
    const watcher = new KvStore(
      [proc.url],
      {
        ...authed,
        hooks: {
          afterResponse: [
            (response) => {
              answered += 1;
              onAnswer();
              return response;
            },
          ],
        },
      },
      0,
    );
    const seen: unknown[] = [];
    let first = () => {};
    let second = () => {};
    const firstSeen = new Promise<void>((resolve) => {
      first = resolve;
    });
    const secondSeen = new Promise<void>((resolve) => {
      second = resolve;
    });
    watcher.watch<{ v: number }>({ path: 'ck/watched' }).onValue((value) => {
      seen.push(value);
      if (seen.length === 1) first();
      if (seen.length === 2) second();
    });
    await firstSeen;
    await kv.set({ path: 'ck/watched' }, { v: 2 });
    await secondSeen; // the blocking query (`?index=`) woke on the write
    const delivered = answered;
    watcher.ignore({ path: 'ck/watched' });
    // Having delivered a change, the watch blocks again (`?index=<ModifyIndex>`): a write wakes
    // it, so that no request is left hanging when the server stops.
    const lastAnswered = new Promise<void>((resolve) => {
      onAnswer = () => answered > delivered && resolve();
    });
    await kv.set({ path: 'ck/watched' }, { v: 3 });
    await lastAnswered;
    expect(seen).toEqual([{ v: 1 }, { v: 2 }]); // ignored: v3 is not delivered
  });
});

describe('@creditkarma/consul-client Catalog against p2-kv-server', () => {
  it('listNodes answers this one node', async () => {
    const catalog = new Catalog([proc.url], authed, 0);
    const nodes = await catalog.listNodes();
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ Datacenter: 'dc1', Address: '127.0.0.1' });
  });

  it('service discovery is a documented gap: the client fails loudly rather than find nothing', async () => {
    const catalog = new Catalog([proc.url], authed, 0);
    await expect(catalog.listServices()).rejects.toThrow(/Not Found/);
    await expect(catalog.listNodesForService('web')).rejects.toThrow(/Not Found/);
    await expect(
      catalog.registerEntity({ Node: 'p2t-node', Address: '127.0.0.1' } as never),
    ).rejects.toThrow(/Not Found/);
  });
});
