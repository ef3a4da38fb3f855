import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { goJson } from '@p2/go';
import { ConsulStore, KvErrorCodes, type Store } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../../vitest.shared.js';
import { HealthStore } from './health.js';
import { lockKeys } from './keys.js';
import { LabelStore } from './label-store.js';
import { labelKey } from './labels.js';
import { PodTree, UuidPodStore } from './pods.js';
import { AuditLogStore } from './records.js';
import { StatusStore } from './status.js';
import { startTestServer } from './test-support.js';

const fixture = (name: string) => readFileSync(join(fixturesDir, 'manifests', name));
const text = (bytes: Uint8Array | undefined) =>
  bytes ? Buffer.from(bytes).toString('utf8') : undefined;

describe('P2 key layout on a real @p2/kv-server', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    const started = await startTestServer();
    cleanup = started.cleanup;
    store = new ConsulStore({ address: started.address });
  });
  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  it('stores a fixture manifest verbatim at intent/<node>/<pod id> and lists it back', async () => {
    const raw = fixture('preparer-test.yaml');
    const manifest = parseManifest(raw);
    const intent = new PodTree(store, 'intent');
    await intent.setPod('node1', manifest);
    const { value: entry } = await store.get(`intent/node1/${manifest.id}`);
    expect(Buffer.from(entry?.value ?? []).equals(raw)).toBe(true);
    await store.put('intent/node10/other', 'must not leak into node1');
    await store.put('intent/node1/bad/extra', 'x');
    const { pods, problems } = await intent.listPods('node1');
    expect(pods.map((p) => p.podId)).toEqual([manifest.id]);
    expect(pods[0]?.manifest().sha()).toBe(manifest.sha());
    expect(problems.map((p) => p.key)).toEqual(['intent/node1/bad/extra']);
  });

  it("watchNode yields the node's pods on every change (and never another node's)", async () => {
    const intent = new PodTree(store, 'intent');
    const manifest = parseManifest(fixture('preparer-test.yaml'));
    const controller = new AbortController();
    const snapshots: string[][] = [];
    const watching = (async () => {
      for await (const { pods } of intent.watchNode('node1', { signal: controller.signal })) {
        snapshots.push(pods.map((p) => p.podId));
        if (snapshots.length === 3) controller.abort();
      }
    })();
    const until = async (n: number) => {
      while (snapshots.length < n) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    await until(1);
    await intent.setPod('node1', manifest);
    await until(2);
    await store.put(`intent/node10/${manifest.id}`, manifest.raw); // must not wake node1
    await intent.deletePod('node1', manifest.id);
    await watching;
    expect(snapshots).toEqual([[], [manifest.id], []]);
  });

  it("nodeIds, watchNodeIds and deleteNode see only the node's own pods (P2's p2-wipe-reality)", async () => {
    const manifest = parseManifest(fixture('preparer-test.yaml'));
    const reality = new PodTree(store, 'reality');
    await reality.setPod('node1', manifest);
    await store.put('reality/node1/0f8fad5b-d9cb-469f-a165-70867728950e', '{"pod_key":"x"}');
    await store.put('reality/node10/other', 'not node1');
    await store.put('reality/node1/bad/extra', 'not a pod');
    const ids = [manifest.id, '0f8fad5b-d9cb-469f-a165-70867728950e'].sort();
    expect(await reality.nodeIds('node1')).toEqual(ids);
    const controller = new AbortController();
    const seen: string[][] = [];
    const watching = (async () => {
      for await (const snapshot of reality.watchNodeIds('node1', { signal: controller.signal })) {
        seen.push(snapshot.ids);
        if (snapshot.ids.length === 0) controller.abort();
      }
    })();
    while (seen.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await reality.deleteNode('node1')).toEqual(ids);
    await watching;
    expect(seen[0]).toEqual(ids);
    expect(seen.at(-1)).toEqual([]); // each deletion is a change: the watch saw them go
    expect(await reality.nodeIds('node10')).toEqual(['other']);
  });

  it('refuses bad node names and pod ids when writing, with the offending value', async () => {
    const manifest = parseManifest(fixture('preparer-test.yaml'));
    const intent = new PodTree(store, 'intent');
    for (const node of ['', 'a/b', '..', 'has space']) {
      const error = await intent.setPod(node, manifest).catch((e: unknown) => e);
      expect(isP2Error(error, KvErrorCodes.INVALID_KEY), String(error)).toBe(true);
      expect((error as Error).message).toContain(JSON.stringify(node));
    }
    const uuidShaped = manifest.toBuilder().setId('0f8fad5b-d9cb-469f-a165-70867728950e').build();
    await expect(intent.setPod('node1', uuidShaped)).rejects.toThrow(/looks like a UUID/);
  });

  it('uuid pods: pods/<uuid> + intent index resolve to the manifest; reality resolves through status', async () => {
    const raw = fixture('pods-test.yaml');
    const manifest = parseManifest(raw);
    const uuids = new UuidPodStore(store);
    const uuid = await uuids.schedule('node1', manifest);
    expect(text((await store.get(`intent/node1/${uuid}`)).value?.value)).toBe(
      `{"pod_key":"${uuid}"}`,
    );
    const podJson = JSON.parse(text((await store.get(`pods/${uuid}`)).value?.value) ?? '{}');
    expect(podJson).toEqual({ manifest: raw.toString('utf8'), node: 'node1' });
    const { pods } = await new PodTree(store, 'intent').listPods('node1');
    expect(pods.map((p) => [p.podId, p.uniqueKey, text(p.raw) === raw.toString('utf8')])).toEqual([
      [uuid, uuid, true],
    ]);

    const status = new StatusStore(store);
    const { index } = await status.get('pods', uuid, 'preparer');
    const launched = await store.txn([
      uuids.realityIndexOp('node1', uuid),
      status.casOp(
        'pods',
        uuid,
        'preparer',
        { process_status: null, status: 'launched', manifest: raw.toString('utf8') },
        0,
      ),
    ]);
    expect(launched.committed).toBe(true);
    expect(index).toBeGreaterThan(0);
    const reality = await new PodTree(store, 'reality').listPods('node1');
    expect(reality.pods.map((p) => p.uniqueKey)).toEqual([uuid]);
    await uuids.unschedule(uuid);
    expect((await store.list('pods/')).value).toEqual([]);
    expect((await store.get(`intent/node1/${uuid}`)).value).toBeUndefined();
  });

  it('health records use Go field names, read case-insensitively, vanish with their session', async () => {
    const health = new HealthStore(store);
    const session = await store.createSession({ behavior: 'delete', lockDelayMs: 1 });
    const record = {
      podId: 'hello',
      node: 'node1',
      service: 'hello',
      status: 'passing' as const,
      time: '2026-11-24T10:00:00Z',
      expires: '2126-11-24T10:00:00Z',
    };
    expect(await health.put(record, { session })).toBe(true);
    expect(text((await store.get('health/hello/node1')).value?.value)).toBe(
      '{"Id":"hello","Node":"node1","Service":"hello","Status":"passing","Time":"2026-11-24T10:00:00Z","Expires":"2126-11-24T10:00:00Z"}',
    );
    await store.put('health/hello/node2', '{"ID":"hello","node":"node2","Status":"weird"}');
    const byNode = await health.forPod('hello');
    expect(byNode.get('node1')?.status).toBe('passing');
    expect(byNode.get('node2')).toMatchObject({ podId: 'hello', node: 'node2', status: 'unknown' });
    await store.destroySession(session);
    expect(await health.get('hello', 'node1')).toBeUndefined();
  });

  it('labels: CAS mutation, delete-CAS when emptied, pod ids with a slash', async () => {
    const labels = new LabelStore(store, { validate: false });
    await labels.setLabels('pod', 'node1/hello', { pod_id: 'hello', app: '<web>' });
    expect(text((await store.get('labels/pod/node1/hello')).value?.value)).toBe(
      '{"app":"\\u003cweb\\u003e","pod_id":"hello"}',
    );
    expect((await labels.get('pod', 'node1/hello')).labels).toEqual({
      pod_id: 'hello',
      app: '<web>',
    });
    expect((await labels.list('pod')).map((r) => r.id)).toEqual(['node1/hello']);
    await labels.removeLabel('pod', 'node1/hello', 'app');
    await labels.removeLabel('pod', 'node1/hello', 'pod_id');
    expect((await store.get('labels/pod/node1/hello')).value).toBeUndefined();
    expect(() => labelKey('bogus' as 'pod', 'x')).toThrow(/unknown label type/);
  });

  it('audit records are written in transactions with schema_version 1', async () => {
    const audit = new AuditLogStore(store);
    const { id, op } = audit.createOp(
      'ROLLING_UPDATE_COMPLETION',
      { pod_id: 'hello', succeeded: true },
      new Date(0),
    );
    expect((await store.txn([op])).committed).toBe(true);
    const { records } = await audit.list();
    expect(records.get(id)).toEqual({
      eventType: 'ROLLING_UPDATE_COMPLETION',
      eventDetails: { pod_id: 'hello', succeeded: true },
      timestamp: '1970-01-01T00:00:00Z',
      schemaVersion: 1,
    });
    await store.txn([audit.deleteOp(id)]);
    expect((await audit.list()).records.size).toBe(0);
  });

  it('lock keys and Go JSON escaping match P2', () => {
    expect(lockKeys.replicationControllerUpdate('abc')).toBe(
      'lock/replication_controllers/abc/update',
    );
    expect(lockKeys.podClusterCreation('hello', 'us-west', 'c1')).toBe('lock/hello/us-west/c1');
    expect(goJson({ a: '<&>\u2028' })).toBe('{"a":"\\u003c\\u0026\\u003e\\u2028"}');
  });
});
