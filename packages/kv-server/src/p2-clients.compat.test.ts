/**
 * P2-client compatibility: replays, against the real `p2-kv-server` binary, the HTTP request
 * sequences P2's Go tools send to Consul, as the spec describes them (spec 04 §1.2/§2 for the wire,
 * 01 §2–§3 for the keys and values, 03 §6 for what each tool reads and writes). The client here is
 * deliberately thin — `fetch` with exactly the requests P2's Go client puts on the wire (its query
 * parameters sorted by name, `recurse=` with an empty value, `wait=` in milliseconds, redirects
 * handled by hand) — so these tests check the wire, not p2's own `@p2/kv` client.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from './test-process.js';

let dataDir: string;
let proc: ServerProcess;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-kvs-compat-'));
  proc = await spawnServer(dataDir);
});
afterAll(async () => {
  await proc?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

/** One request exactly as written (no redirect following, no encoding of the path). */
async function consul(method: string, path: string, body?: string): Promise<Reply> {
  const res = await fetch(`${proc.url}${path}`, { method, body, redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Consul's KV entry as P2's Go client decodes it (spec 04 §2.5). */
interface KvEntry {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

function index(reply: Reply): number {
  const raw = reply.headers.get('x-consul-index');
  expect(raw).toMatch(/^[1-9]\d*$/); // never 0, never absent on a KV read
  return Number(raw);
}

/** The headers P2's client reads on every KV/session GET (spec 04 §2.1, 01 §4). */
function expectReadMeta(reply: Reply): number {
  expect(reply.headers.get('x-consul-knownleader')).toBe('true');
  expect(reply.headers.get('x-consul-lastcontact')).toMatch(/^\d+$/);
  return index(reply);
}

/** A 200 KV read: JSON array of entries with exactly Consul's fields. */
function entries(reply: Reply): KvEntry[] {
  expect(reply.status).toBe(200);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  expectReadMeta(reply);
  const list = JSON.parse(reply.text) as KvEntry[];
  expect(Array.isArray(list)).toBe(true);
  for (const entry of list) {
    const fields = ['CreateIndex', 'Flags', 'Key', 'LockIndex', 'ModifyIndex', 'Value'];
    if (entry.Session !== undefined) fields.push('Session');
    expect(Object.keys(entry).sort()).toEqual(fields.sort());
    expect(entry.Flags).toBe(0); // P2 never sends ?flags=
    expect(entry.CreateIndex).toBeLessThanOrEqual(entry.ModifyIndex);
  }
  return list;
}

function value(entry: KvEntry | undefined): string {
  return Buffer.from(entry?.Value ?? '', 'base64').toString();
}

/** A write answered with the JSON literal `true`/`false` (spec 04 §2.3/§2.4). */
async function write(method: 'PUT' | 'DELETE', path: string, body?: string): Promise<boolean> {
  const reply = await consul(method, path, body);
  expect(reply.status).toBe(200);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  expect(['true', 'false']).toContain(reply.text.trim());
  return reply.text.trim() === 'true';
}

/** A 404 read: empty body, but an index to start a watch from. */
function expectAbsent(reply: Reply): number {
  expect(reply.status).toBe(404);
  expect(reply.text).toBe('');
  return expectReadMeta(reply);
}

/** One KV op of a txn body as P2's builder writes it: all six fields present (01 §2.9). */
function op(
  verb: string,
  key: string,
  extra: { Value?: string; Index?: number; Session?: string },
) {
  return {
    KV: {
      Verb: verb,
      Key: key,
      Value: extra.Value === undefined ? null : Buffer.from(extra.Value).toString('base64'),
      Flags: 0,
      Index: extra.Index ?? 0,
      Session: extra.Session ?? '',
    },
  };
}

const manifest = (id: string, version = 1) =>
  `id: ${id}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://x/${id}_${version}.tar.gz\n`;

/** P2's session body: always `Checks: []` (CreateNoChecks), LockDelay as `"<n>ms"` (01 §2.8). */
async function createSession(name: string, lockDelay: string): Promise<string> {
  const reply = await consul(
    'PUT',
    '/v1/session/create',
    JSON.stringify({
      Name: name,
      TTL: '15s',
      LockDelay: lockDelay,
      Behavior: 'delete',
      Checks: [],
    }),
  );
  expect(reply.status).toBe(200);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  const { ID } = JSON.parse(reply.text) as { ID: string };
  expect(ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  return ID;
}

describe('p2-schedule', () => {
  it('legacy pod: plain PUT of the raw manifest at intent/<node>/<pod>, read back byte for byte', async () => {
    const body = manifest('hello');
    expect(await write('PUT', '/v1/kv/intent/p2t-sched1/hello', body)).toBe(true);
    const reply = await consul('GET', '/v1/kv/intent/p2t-sched1/hello');
    const [entry] = entries(reply);
    expect(entry).toMatchObject({ Key: 'intent/p2t-sched1/hello', LockIndex: 0 });
    expect(entry?.Session).toBeUndefined();
    expect(value(entry)).toBe(body);
    // A single-key GET reports the key's ModifyIndex: the index P2's "mutate pod" CASes at.
    expect(index(reply)).toBe(entry?.ModifyIndex);
    expect(entry?.CreateIndex).toBe(entry?.ModifyIndex);

    // Re-scheduling another version is a plain PUT too (no CAS): CreateIndex stays.
    expect(await write('PUT', '/v1/kv/intent/p2t-sched1/hello', manifest('hello', 2))).toBe(true);
    const [updated] = entries(await consul('GET', '/v1/kv/intent/p2t-sched1/hello'));
    expect(updated?.CreateIndex).toBe(entry?.CreateIndex);
    expect(updated?.ModifyIndex).toBeGreaterThan(entry?.ModifyIndex ?? 0);
    expect(value(updated)).toBe(manifest('hello', 2));
  });

  it('--hook: PUT hooks/<pod>', async () => {
    expect(await write('PUT', '/v1/kv/hooks/p2t-hook', manifest('p2t-hook'))).toBe(true);
    expect(value(entries(await consul('GET', '/v1/kv/hooks/p2t-hook'))[0])).toBe(
      manifest('p2t-hook'),
    );
  });

  it('--uuid-pod: PUT pods/<uuid> = {manifest,node}, then PUT intent/<node>/<uuid> = {pod_key}', async () => {
    const uuid = randomUUID();
    const pod = JSON.stringify({ manifest: manifest('hello'), node: 'p2t-sched2' });
    expect(await write('PUT', `/v1/kv/pods/${uuid}`, pod)).toBe(true);
    expect(
      await write('PUT', `/v1/kv/intent/p2t-sched2/${uuid}`, JSON.stringify({ pod_key: uuid })),
    ).toBe(true);
    // The preparer lists its node with a trailing slash and resolves the index through pods/<uuid>.
    const listed = entries(await consul('GET', '/v1/kv/intent/p2t-sched2/?recurse='));
    expect(listed.map((e) => e.Key)).toEqual([`intent/p2t-sched2/${uuid}`]);
    expect(JSON.parse(value(listed[0]))).toEqual({ pod_key: uuid });
    expect(JSON.parse(value(entries(await consul('GET', `/v1/kv/pods/${uuid}`))[0]))).toEqual({
      manifest: manifest('hello'),
      node: 'p2t-sched2',
    });
  });
});

describe('p2-rm', () => {
  it('legacy pod: reads its labels, deletes the intent and the label key', async () => {
    await write('PUT', '/v1/kv/intent/p2t-rm1/hello', manifest('hello'));
    await write('PUT', '/v1/kv/labels/pod/p2t-rm1/hello?cas=0', JSON.stringify({ team: 'a' }));
    // Labels of a legacy pod live under the id <node>/<pod> (the id contains a slash).
    const labels = entries(await consul('GET', '/v1/kv/labels/pod/p2t-rm1/hello'));
    expect(JSON.parse(value(labels[0]))).toEqual({ team: 'a' });
    expect(await write('DELETE', '/v1/kv/intent/p2t-rm1/hello')).toBe(true);
    expect(await write('DELETE', '/v1/kv/labels/pod/p2t-rm1/hello')).toBe(true);
    expectAbsent(await consul('GET', '/v1/kv/intent/p2t-rm1/hello'));
    expectAbsent(await consul('GET', '/v1/kv/labels/pod/p2t-rm1/hello'));
    // Removing what is already gone still answers true (p2-rm run twice).
    expect(await write('DELETE', '/v1/kv/intent/p2t-rm1/hello')).toBe(true);
  });

  it('--deallocate: lock the RC for mutation, disable, delete the pod, decrement, enable, destroy the session', async () => {
    const rc = randomUUID();
    const record = (replicas: number, disabled: boolean) =>
      JSON.stringify({
        id: rc,
        manifest: manifest('hello'),
        node_selector: 'pool=web',
        pod_labels: {},
        replicas_desired: replicas,
        disabled,
        allocation_strategy: 'dynamic_strategy',
      });
    await write('PUT', `/v1/kv/replication_controllers/${rc}?cas=0`, record(2, false));
    await write('PUT', '/v1/kv/intent/p2t-rm2/hello', manifest('hello'));
    await write(
      'PUT',
      '/v1/kv/labels/pod/p2t-rm2/hello?cas=0',
      JSON.stringify({ replication_controller_id: rc, pod_id: 'hello' }),
    );
    const session = await createSession(`p2-rm:user:p2t:rcID:${rc}`, '1ms');
    const lock = `/v1/kv/lock/replication_controllers/${rc}/update`;
    expect(await write('PUT', `${lock}?acquire=${session}`, `p2-rm:user:p2t:rcID:${rc}`)).toBe(
      true,
    );
    const [held] = entries(await consul('GET', lock));
    expect(held).toMatchObject({ Session: session, LockIndex: 1 });

    // Each RC mutation: GET, then CAS at the GET's X-Consul-Index.
    const mutate = async (next: string) => {
      const reply = await consul('GET', `/v1/kv/replication_controllers/${rc}`);
      entries(reply);
      return write('PUT', `/v1/kv/replication_controllers/${rc}?cas=${index(reply)}`, next);
    };
    expect(await mutate(record(2, true))).toBe(true);
    expect(await write('DELETE', '/v1/kv/intent/p2t-rm2/hello')).toBe(true);
    expect(await write('DELETE', '/v1/kv/labels/pod/p2t-rm2/hello')).toBe(true);
    expect(await mutate(record(1, true))).toBe(true);
    expect(await mutate(record(1, false))).toBe(true);
    const destroyed = await consul('PUT', `/v1/session/destroy/${session}`);
    expect(destroyed).toMatchObject({ status: 200, text: 'true' });
    // Behaviour "delete": the mutation lock is gone with the session.
    expectAbsent(await consul('GET', lock));
    const [after] = entries(await consul('GET', `/v1/kv/replication_controllers/${rc}`));
    expect(JSON.parse(value(after))).toMatchObject({ replicas_desired: 1, disabled: false });
  });

  it('uuid pod: GET pods/<uuid> for the node, DELETE it, then DELETE the intent index', async () => {
    const uuid = randomUUID();
    await write(
      'PUT',
      `/v1/kv/pods/${uuid}`,
      JSON.stringify({ manifest: manifest('hello'), node: 'p2t-rm3' }),
    );
    await write('PUT', `/v1/kv/intent/p2t-rm3/${uuid}`, JSON.stringify({ pod_key: uuid }));
    const { node } = JSON.parse(value(entries(await consul('GET', `/v1/kv/pods/${uuid}`))[0])) as {
      node: string;
    };
    expect(await write('DELETE', `/v1/kv/pods/${uuid}`)).toBe(true);
    expect(await write('DELETE', `/v1/kv/intent/${node}/${uuid}`)).toBe(true);
    expectAbsent(await consul('GET', '/v1/kv/intent/p2t-rm3/?recurse='));
  });
});

describe('p2-inspect', () => {
  it('lists intent/ and reality/ recursively, sorted by key, with a prefix index', async () => {
    await write('PUT', '/v1/kv/intent/p2t-insp/b', manifest('b'));
    await write('PUT', '/v1/kv/intent/p2t-insp/a', manifest('a'));
    await write('PUT', '/v1/kv/reality/p2t-insp/a', manifest('a'));
    const intent = await consul('GET', '/v1/kv/intent/?recurse=');
    const listed = entries(intent).filter((e) => e.Key.startsWith('intent/p2t-insp/'));
    expect(listed.map((e) => e.Key)).toEqual(['intent/p2t-insp/a', 'intent/p2t-insp/b']);
    // The prefix index is the newest ModifyIndex under it (or a newer tombstone).
    const newest = Math.max(...entries(intent).map((e) => e.ModifyIndex));
    expect(index(intent)).toBeGreaterThanOrEqual(newest);
    const reality = entries(await consul('GET', '/v1/kv/reality/?recurse='));
    expect(reality.find((e) => e.Key === 'reality/p2t-insp/a')).toBeDefined();
    expect(value(reality.find((e) => e.Key === 'reality/p2t-insp/a'))).toBe(manifest('a'));
  });

  it("reads a pod's health as P2 does: health/<pod>//?recurse= is redirected (301) to the cleaned path", async () => {
    const session = await createSession('health:p2t-insp:1:1205-000000', '1ms');
    const record = JSON.stringify({
      Id: 'p2t-hp',
      Node: 'p2t-insp',
      Service: 'p2t-hp',
      Status: 'passing',
      Time: new Date().toISOString(),
      Expires: new Date(Date.now() + 100 * 365 * 86_400_000).toISOString(),
    });
    expect(await write('PUT', `/v1/kv/health/p2t-hp/p2t-insp?acquire=${session}`, record)).toBe(
      true,
    );
    // P2's key helper joins an empty node as "/"; Consul's Go ServeMux answers any path with "//"
    // by a 301 to the cleaned path, the query kept, and Go's client follows it.
    const first = await consul('GET', '/v1/kv/health/p2t-hp//?recurse=');
    expect(first.status).toBe(301);
    const location = first.headers.get('location');
    expect(location).toBe('/v1/kv/health/p2t-hp/?recurse=');
    const listed = entries(await consul('GET', location ?? ''));
    expect(listed.map((e) => e.Key)).toEqual(['health/p2t-hp/p2t-insp']);
    expect(listed[0]?.Session).toBe(session);
    expect(JSON.parse(value(listed[0]))).toMatchObject({ Status: 'passing', Node: 'p2t-insp' });
    await consul('PUT', `/v1/session/destroy/${session}`);
  });
});

describe('p2-label', () => {
  it('apply: GET, CAS at the entry ModifyIndex (0 when absent), delete-CAS when the set empties; show: GET', async () => {
    const key = '/v1/kv/labels/node/p2t-label1';
    const absent = expectAbsent(await consul('GET', key));
    expect(absent).toBeGreaterThanOrEqual(1);
    expect(await write('PUT', `${key}?cas=0`, JSON.stringify({ pool: 'web' }))).toBe(true);
    // A second create-if-absent loses (another p2-label got there first).
    expect(await write('PUT', `${key}?cas=0`, JSON.stringify({ pool: 'db' }))).toBe(false);
    const [first] = entries(await consul('GET', key));
    expect(JSON.parse(value(first))).toEqual({ pool: 'web' });
    const added = JSON.stringify({ pool: 'web', az: 'a' });
    expect(await write('PUT', `${key}?cas=${first?.ModifyIndex}`, added)).toBe(true);
    // A stale index is refused, so a concurrent apply cannot lose an update.
    expect(await write('PUT', `${key}?cas=${first?.ModifyIndex}`, '{}')).toBe(false);
    const [second] = entries(await consul('GET', key));
    expect(JSON.parse(value(second))).toEqual({ pool: 'web', az: 'a' });
    expect(await write('DELETE', `${key}?cas=${first?.ModifyIndex}`)).toBe(false);
    expect(await write('DELETE', `${key}?cas=${second?.ModifyIndex}`)).toBe(true);
    expectAbsent(await consul('GET', key));
  });

  it('selecting lists labels/<type>/ recursively; ids keep their slashes; an empty type is 404', async () => {
    await write('PUT', '/v1/kv/labels/pod/p2t-label2/a?cas=0', JSON.stringify({ x: '1' }));
    await write('PUT', '/v1/kv/labels/pod/p2t-label2/b?cas=0', JSON.stringify({ x: '2' }));
    const listed = entries(await consul('GET', '/v1/kv/labels/pod/p2t-label2/?recurse='));
    expect(listed.map((e) => e.Key)).toEqual([
      'labels/pod/p2t-label2/a',
      'labels/pod/p2t-label2/b',
    ]);
    expectAbsent(await consul('GET', '/v1/kv/labels/rolls/?recurse='));
  });
});

describe('p2-rctl', () => {
  it('create, set-replicas, get, get-status, delete', async () => {
    const id = randomUUID();
    const rc = {
      id,
      manifest: manifest('hello'),
      node_selector: 'pool=web',
      pod_labels: { availability_zone: 'az1', cluster_name: 'c1' },
      replicas_desired: 0,
      disabled: false,
      allocation_strategy: 'dynamic_strategy',
    };
    const key = `/v1/kv/replication_controllers/${id}`;
    // create: CAS 0 (create-only), then the RC's labels (pod_id) by label CAS.
    expect(await write('PUT', `${key}?cas=0`, JSON.stringify(rc))).toBe(true);
    expectAbsent(await consul('GET', `/v1/kv/labels/replication_controller/${id}`));
    expect(
      await write(
        'PUT',
        `/v1/kv/labels/replication_controller/${id}?cas=0`,
        JSON.stringify({ pod_id: 'hello' }),
      ),
    ).toBe(true);

    // set-replicas: GET, then CAS at the GET's X-Consul-Index; a stale index loses.
    const read = await consul('GET', key);
    const [before] = entries(read);
    expect(index(read)).toBe(before?.ModifyIndex);
    expect(
      await write(
        'PUT',
        `${key}?cas=${index(read)}`,
        JSON.stringify({ ...rc, replicas_desired: 3 }),
      ),
    ).toBe(true);
    expect(await write('PUT', `${key}?cas=${index(read)}`, JSON.stringify(rc))).toBe(false);

    // list: the keys (the farm watches ?keys=) and the records.
    const keys = await consul('GET', '/v1/kv/replication_controllers/?keys=');
    expect(keys.status).toBe(200);
    expectReadMeta(keys);
    expect(JSON.parse(keys.text)).toContain(`replication_controllers/${id}`);

    // get: the record with replicas_desired (mandatory on read).
    const [got] = entries(await consul('GET', key));
    expect(JSON.parse(value(got))).toMatchObject({ id, replicas_desired: 3 });

    // get-status: absent → 404 with an index ("no status found").
    expectAbsent(
      await consul('GET', `/v1/kv/status/replication_controllers/${id}/replication_controller`),
    );

    // delete: delete-CAS at the record's index plus removal of its label key, in one txn.
    const current = await consul('GET', key);
    const txn = await consul(
      'PUT',
      '/v1/txn',
      JSON.stringify([
        op('delete-cas', `replication_controllers/${id}`, { Index: index(current) }),
        op('delete', `labels/replication_controller/${id}`, {}),
      ]),
    );
    expect(txn.status).toBe(200);
    expect(txn.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(txn.text)).toMatchObject({ Errors: null });
    expectAbsent(await consul('GET', key));
    expectAbsent(await consul('GET', `/v1/kv/labels/replication_controller/${id}`));
  });

  it('a txn with a stale CAS rolls back with 409 and every failing op', async () => {
    const id = randomUUID();
    const key = `replication_controllers/${id}`;
    await write('PUT', `/v1/kv/${key}?cas=0`, JSON.stringify({ id, replicas_desired: 1 }));
    const reply = await consul(
      'PUT',
      '/v1/txn',
      JSON.stringify([
        op('set', `labels/replication_controller/${id}`, { Value: '{}' }),
        op('cas', key, { Value: '{}', Index: 1 }),
      ]),
    );
    expect(reply.status).toBe(409);
    const body = JSON.parse(reply.text) as { Results: unknown; Errors: { OpIndex: number }[] };
    expect(body.Results).toBeNull();
    expect(body.Errors.map((e) => e.OpIndex)).toEqual([1]);
    expectAbsent(await consul('GET', `/v1/kv/labels/replication_controller/${id}`));
  });
});

describe('p2-dsctl', () => {
  it('create (txn CAS 0), list, get, disable (GET + CAS), delete', async () => {
    const id = randomUUID();
    const ds = {
      id,
      disabled: false,
      manifest: manifest('hello'),
      min_health: 1,
      cluster_name: 'c1',
      node_selector: 'pool=web',
      pod_id: 'hello',
      timeout: 60_000_000_000,
    };
    const create = await consul(
      'PUT',
      '/v1/txn',
      JSON.stringify([op('cas', `daemon_sets/${id}`, { Value: JSON.stringify(ds), Index: 0 })]),
    );
    expect(create.status).toBe(200);
    const { Results } = JSON.parse(create.text) as { Results: { KV: KvEntry }[] };
    expect(Results[0]?.KV).toMatchObject({ Key: `daemon_sets/${id}`, Value: null });

    const listed = entries(await consul('GET', '/v1/kv/daemon_sets/?recurse='));
    expect(listed.map((e) => e.Key)).toContain(`daemon_sets/${id}`);
    const read = await consul('GET', `/v1/kv/daemon_sets/${id}`);
    expect(JSON.parse(value(entries(read)[0]))).toEqual(ds);
    expect(
      await write(
        'PUT',
        `/v1/kv/daemon_sets/${id}?cas=${index(read)}`,
        JSON.stringify({ ...ds, disabled: true }),
      ),
    ).toBe(true);
    expect(await write('DELETE', `/v1/kv/daemon_sets/${id}`)).toBe(true);
    expectAbsent(await consul('GET', `/v1/kv/daemon_sets/${id}`));
  });
});

describe("the preparer's own traffic", () => {
  it('blocking intent watch: a timeout returns the same index, a change returns a higher one', async () => {
    await write('PUT', '/v1/kv/intent/p2t-prep1/p2-preparer', manifest('p2-preparer'));
    const first = await consul('GET', '/v1/kv/intent/p2t-prep1/?recurse=');
    const start = index(first);
    const body = entries(first);

    // Nothing changes: after the wait, 200 with the same data and the unchanged index.
    const idle = await consul('GET', `/v1/kv/intent/p2t-prep1/?index=${start}&recurse=&wait=300ms`);
    expect(index(idle)).toBe(start);
    expect(entries(idle)).toEqual(body);

    // A write under the prefix wakes the watch with a higher index.
    const watching = consul('GET', `/v1/kv/intent/p2t-prep1/?index=${start}&recurse=&wait=60000ms`);
    await write('PUT', '/v1/kv/intent/p2t-prep1/hello', manifest('hello'));
    const woke = await watching;
    expect(index(woke)).toBeGreaterThan(start);
    expect(entries(woke).map((e) => e.Key)).toEqual([
      'intent/p2t-prep1/hello',
      'intent/p2t-prep1/p2-preparer',
    ]);
  });

  it('legacy launch: PUT reality/<node>/<pod>; uninstall: DELETE it', async () => {
    expect(await write('PUT', '/v1/kv/reality/p2t-prep2/hello', manifest('hello'))).toBe(true);
    expect(value(entries(await consul('GET', '/v1/kv/reality/p2t-prep2/hello'))[0])).toBe(
      manifest('hello'),
    );
    expect(await write('DELETE', '/v1/kv/reality/p2t-prep2/hello')).toBe(true);
    expectAbsent(await consul('GET', '/v1/kv/reality/p2t-prep2/?recurse='));
  });

  it('uuid launch: one txn sets the reality index and CAS-writes status/pods/<uuid>/preparer', async () => {
    const uuid = randomUUID();
    const statusKey = `status/pods/${uuid}/preparer`;
    const absent = await consul('GET', `/v1/kv/${statusKey}`);
    expectAbsent(absent);
    const status = (s: string) =>
      JSON.stringify({ process_status: null, status: s, manifest: manifest('hello') });
    const launched = await consul(
      'PUT',
      '/v1/txn',
      JSON.stringify([
        op('set', `reality/p2t-prep3/${uuid}`, { Value: JSON.stringify({ pod_key: uuid }) }),
        op('cas', statusKey, { Value: status('launched'), Index: 0 }),
      ]),
    );
    expect(launched.status).toBe(200);
    const reality = entries(await consul('GET', `/v1/kv/reality/p2t-prep3/${uuid}`))[0];
    const read = await consul('GET', `/v1/kv/${statusKey}`);
    const [stored] = entries(read);
    // Every write of one transaction shares one index.
    expect(stored?.ModifyIndex).toBe(reality?.ModifyIndex);
    expect(JSON.parse(value(stored))).toMatchObject({ status: 'launched' });

    // Uninstall: CAS the status to "removed" and delete the reality index, in one txn.
    const removed = await consul(
      'PUT',
      '/v1/txn',
      JSON.stringify([
        op('cas', statusKey, { Value: status('removed'), Index: index(read) }),
        op('delete', `reality/p2t-prep3/${uuid}`, {}),
      ]),
    );
    expect(removed.status).toBe(200);
    expectAbsent(await consul('GET', `/v1/kv/reality/p2t-prep3/${uuid}`));
    expect(JSON.parse(value(entries(await consul('GET', `/v1/kv/${statusKey}`))[0]))).toMatchObject(
      { status: 'removed' },
    );
  });

  it('health: session create, first write by ?acquire=, later plain PUTs, renew, destroy deletes the keys', async () => {
    const name = 'health:p2t-prep4:4242:1205-024800';
    const session = await createSession(name, '1ms');
    const info = await consul('GET', `/v1/session/info/${session}`);
    expect(info.status).toBe(200);
    expectReadMeta(info);
    expect(JSON.parse(info.text)).toEqual([
      expect.objectContaining({
        ID: session,
        Name: name,
        Behavior: 'delete',
        TTL: '15s',
        LockDelay: 1_000_000,
      }),
    ]);

    const key = '/v1/kv/health/p2t-hhello/p2t-prep4';
    const health = (status: string) =>
      JSON.stringify({
        Id: 'p2t-hhello',
        Node: 'p2t-prep4',
        Service: 'p2t-hhello',
        Status: status,
        Time: new Date().toISOString(),
        Expires: new Date(Date.now() + 100 * 365 * 86_400_000).toISOString(),
      });
    expect(await write('PUT', `${key}?acquire=${session}`, health('critical'))).toBe(true);
    const [acquired] = entries(await consul('GET', key));
    expect(acquired).toMatchObject({ Session: session, LockIndex: 1 });
    // A status change is a plain PUT: the lock stays with the key.
    expect(await write('PUT', key, health('passing'))).toBe(true);
    const [updated] = entries(await consul('GET', key));
    expect(updated).toMatchObject({ Session: session, LockIndex: 1 });
    expect(JSON.parse(value(updated))).toMatchObject({ Status: 'passing' });

    const renewed = await consul('PUT', `/v1/session/renew/${session}`);
    expect(renewed.status).toBe(200);
    expect(JSON.parse(renewed.text)).toEqual([
      expect.objectContaining({ ID: session, TTL: '15s' }),
    ]);

    expect(await consul('PUT', `/v1/session/destroy/${session}`)).toMatchObject({
      status: 200,
      text: 'true',
    });
    // Behaviour "delete": the health key goes with the session; renewing it now is 404.
    expectAbsent(await consul('GET', key));
    expect((await consul('PUT', `/v1/session/renew/${session}`)).status).toBe(404);
  });

  it('pod status writes: plain PUT and read-modify-CAS at the GET index', async () => {
    const key = `/v1/kv/status/pods/${randomUUID()}/preparer`;
    const start = { process_status: null, status: 'launched', manifest: '' };
    expect(await write('PUT', key, JSON.stringify(start))).toBe(true);
    const read = await consul('GET', key);
    entries(read);
    const exit = {
      launchable_id: 'app',
      entry_point: 'launch',
      last_exit: { time: new Date().toISOString(), exit_code: 1, exit_status: 256 },
    };
    const next = JSON.stringify({ ...start, process_status: [exit] });
    expect(await write('PUT', `${key}?cas=${index(read)}`, next)).toBe(true);
    expect(await write('PUT', `${key}?cas=${index(read)}`, next)).toBe(false);
    expect(JSON.parse(value(entries(await consul('GET', key))[0]))).toEqual({
      ...start,
      process_status: [exit],
    });
  });
});

describe('p2-bootstrap', () => {
  it('pings the catalog with ?consistent= and reads X-Consul-KnownLeader', async () => {
    const reply = await consul('GET', '/v1/catalog/nodes?consistent=');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-consul-knownleader')).toBe('true');
    expect(Array.isArray(JSON.parse(reply.text))).toBe(true);
  });
});
