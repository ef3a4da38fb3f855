import { DsStore } from '@p2/daemon-set';
import { LabelStore, PreparerStatusStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { Selector } from '@p2/labels';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerProgress, waitForController } from './index.js';
import { startTestStore } from './test-support.js';

const web = parseManifest('id: p2t-wait\nconfig:\n  v: 2\n');

let store: Store;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ store, cleanup } = await startTestStore());
});
afterAll(async () => {
  await cleanup();
});

/** What a preparer leaves when it runs (or fails) the pod on `node`. */
async function ran(node: string, state: 'running' | 'failed' = 'running') {
  await store.put(`intent/${node}/p2t-wait`, web.text());
  if (state === 'running') await store.put(`reality/${node}/p2t-wait`, web.text());
  await new PreparerStatusStore(store).publish(node, {
    pod: 'p2t-wait',
    uniqueKey: '',
    state,
    sha: web.sha(),
    updated: new Date().toISOString(),
    ...(state === 'failed' ? { error: 'download failed: HTTP 404' } : {}),
  });
}

describe('waiting for a controller', () => {
  it('an RC: done when its replicas run its manifest; a failed pod ends the wait with the reason', async () => {
    const rc = await new RcStore(store).create({
      manifest: web,
      nodeSelector: '',
      replicasDesired: 2,
    });
    const labels = new LabelStore(store);
    expect((await controllerProgress(store, { kind: 'rc', id: rc.id })).line).toBe(
      `rc ${rc.id.slice(0, 8)}: 0/2 running`,
    );
    for (const node of ['p2t-a', 'p2t-b'])
      await labels.apply({
        type: 'pod',
        id: `${node}/p2t-wait`,
        set: { replication_controller_id: rc.id },
      });
    await ran('p2t-a');
    const half = await controllerProgress(store, { kind: 'rc', id: rc.id });
    expect(half.line).toBe(`rc ${rc.id.slice(0, 8)}: 1/2 running (p2t-b pending)`);
    expect(half.end).toBeUndefined();
    const lines: string[] = [];
    const waiting = waitForController(
      store,
      { kind: 'rc', id: rc.id },
      {
        timeoutMs: 10_000,
        onChange: (line) => lines.push(line),
      },
    );
    await ran('p2t-b');
    expect(await waiting).toEqual({
      outcome: 'ok',
      message: `rc ${rc.id.slice(0, 8)}: all 2 running`,
    });
    expect(lines.at(-1)).toBe(`rc ${rc.id.slice(0, 8)}: 2/2 running`);
    await ran('p2t-b', 'failed');
    expect((await controllerProgress(store, { kind: 'rc', id: rc.id })).end).toEqual({
      outcome: 'failed',
      message: 'p2t-wait on p2t-b: failed: download failed: HTTP 404',
    });
  });

  it('a daemon set: every node its selector matches; a timeout says where it stood', async () => {
    const labels = new LabelStore(store);
    await labels.apply({ type: 'node', id: 'p2t-a', set: { role: 'p2t-ds' } });
    await labels.apply({ type: 'node', id: 'p2t-c', set: { role: 'p2t-ds' } });
    const ds = await new DsStore(store).create({
      manifest: web,
      nodeSelector: Selector.parse('role=p2t-ds'),
      minHealth: 0,
      clusterName: 'c',
      timeoutMs: 60_000,
    });
    await ran('p2t-a');
    const end = await waitForController(store, { kind: 'ds', id: ds.id }, { timeoutMs: 300 });
    expect(end.outcome).toBe('timeout');
    expect(end.message).toBe(
      `timed out; last: ds ${ds.id.slice(0, 8)}: 1/2 running (p2t-c pending)`,
    );
    await ran('p2t-c');
    expect((await controllerProgress(store, { kind: 'ds', id: ds.id })).end?.outcome).toBe('ok');
  });
});
