/**
 * P2's records on etcd: the write sequences P2's tools send to Consul (p2-schedule, the preparer's
 * reality and health writes, p2-label — spec 01 §2–§3) are replayed over raw HTTP against
 * `@p2/kv-server`, and the same sequences through this package's etcd backend on a real etcd. The
 * keys P2's components read (intent, pods, reality, health, labels) must then read back identically
 * from both: same keys in the same order, same bytes, flags, lock holder presence and LockIndex.
 * (P2's tools do not speak etcd; on etcd p2's stores write these records, so the read path must not
 * be able to tell the two apart.)
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdCluster, startEtcd } from './etcd-test-support.js';
import { createStore, type KvEntry, type Store } from './index.js';
import { startTestServer } from './test-support.js';

let etcd: EtcdCluster;
let server: Awaited<ReturnType<typeof startTestServer>>;
let consulStore: Store;
let etcdStore: Store;

beforeAll(async () => {
  etcd = await startEtcd(1);
  server = await startTestServer({}, 'records');
  consulStore = createStore(`consul://${server.address}`);
  etcdStore = createStore(`etcd://${etcd.endpoints[0]}/p2t-records`);
}, 30_000);
afterAll(async () => {
  await consulStore?.close();
  await etcdStore?.close();
  await server?.cleanup();
  await etcd?.stop();
});

/** One P2 write: a plain PUT, a PUT with `?cas=` or `?acquire=` (the health session). */
interface P2Write {
  key: string;
  body: string;
  cas?: number;
  acquire?: boolean;
}

const node = 'p2t-rec1';
const uuid = randomUUID();
// Byte-for-byte: non-ASCII, CRLF and Go's escaped JSON must survive both paths.
const manifest = (id: string) =>
  `id: ${id}\r\nlaunchables:\n  app:\n    location: https://x/${id}.tar.gz # café\n`;
const health = (status: string) =>
  JSON.stringify({
    Id: 'hello',
    Node: node,
    Service: 'hello',
    Status: status,
    Time: '2026-12-05T02:48:00.123456789Z',
    Expires: '2126-12-05T02:48:00.123456789Z',
  });

/** In order: p2-schedule (legacy, uuid), the preparer (reality, health), p2-label apply. */
const sequence: P2Write[] = [
  { key: `intent/${node}/p2-preparer`, body: manifest('p2-preparer') },
  { key: `intent/${node}/hello`, body: manifest('hello') },
  { key: `pods/${uuid}`, body: JSON.stringify({ manifest: manifest('hello'), node }) },
  { key: `intent/${node}/${uuid}`, body: JSON.stringify({ pod_key: uuid }) },
  { key: `reality/${node}/hello`, body: manifest('hello') },
  { key: `reality/${node}/p2-preparer`, body: manifest('p2-preparer') },
  { key: `health/hello/${node}`, body: health('critical'), acquire: true },
  { key: `health/hello/${node}`, body: health('passing') },
  { key: `labels/pod/${node}/hello`, body: '{"pod_id":"hello","x":"\\u003cy\\u003e"}', cas: 0 },
  { key: `labels/node/${node}`, body: '{"pool":"web"}', cas: 0 },
];

async function replayOverHttp(): Promise<string> {
  const create = await fetch(`${server.server.url}/v1/session/create`, {
    method: 'PUT',
    body: JSON.stringify({
      Name: `health:${node}:1:1205-024800`,
      TTL: '15s',
      LockDelay: '1ms',
      Behavior: 'delete',
      Checks: [],
    }),
  });
  const { ID } = (await create.json()) as { ID: string };
  for (const step of sequence) {
    const query =
      step.cas !== undefined ? `?cas=${step.cas}` : step.acquire ? `?acquire=${ID}` : '';
    const res = await fetch(`${server.server.url}/v1/kv/${step.key}${query}`, {
      method: 'PUT',
      body: step.body,
    });
    expect(await res.text()).toBe('true');
  }
  return ID;
}

async function replayThroughStore(store: Store): Promise<void> {
  const session = await store.createSession({
    name: `health:${node}:1:1205-024800`,
    ttlMs: 15_000,
    lockDelayMs: 1,
    behavior: 'delete',
  });
  for (const step of sequence) {
    if (step.cas !== undefined) expect(await store.cas(step.key, step.body, step.cas)).toBe(true);
    else if (step.acquire) expect(await store.acquire(step.key, step.body, session)).toBe(true);
    else await store.put(step.key, step.body);
  }
}

/** What a reader can observe of an entry, minus the store-specific indexes and session ids. */
function readable(entry: KvEntry | undefined) {
  if (!entry) return undefined;
  return {
    key: entry.key,
    value: Buffer.from(entry.value).toString('hex'),
    flags: entry.flags,
    locked: entry.session !== undefined,
    lockIndex: entry.lockIndex,
  };
}

describe("P2's records read back identically from kv-server and from etcd", () => {
  beforeAll(async () => {
    await replayOverHttp();
    await replayThroughStore(etcdStore);
  }, 30_000);

  it.each([
    `intent/${node}/`,
    'pods/',
    `reality/${node}/`,
    'health/hello/',
    'labels/pod/',
    'labels/node/',
  ])('list %s', async (prefix) => {
    const fromConsul = (await consulStore.list(prefix)).value.map(readable);
    const fromEtcd = (await etcdStore.list(prefix)).value.map(readable);
    expect(fromConsul.length).toBeGreaterThan(0);
    expect(fromEtcd).toEqual(fromConsul);
  });

  it('every key P2 wrote, one by one, with the bytes P2 sent', async () => {
    const last = new Map(sequence.map((step) => [step.key, step.body]));
    for (const [key, body] of last) {
      const fromConsul = (await consulStore.get(key)).value;
      const fromEtcd = (await etcdStore.get(key)).value;
      expect(Buffer.from(fromConsul?.value ?? []).toString()).toBe(body);
      expect(readable(fromEtcd)).toEqual(readable(fromConsul));
    }
    // The health key is held by the health session on both, acquired once.
    const held = readable((await etcdStore.get(`health/hello/${node}`)).value);
    expect(held).toMatchObject({ locked: true, lockIndex: 1 });
  });
});
