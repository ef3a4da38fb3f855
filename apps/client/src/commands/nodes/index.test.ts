import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { PreparerStatusStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const POD = 'id: p2t-nodes\n';
beforeAll(async () => {
  h = await startHarness('nodes');
  await writeFile(join(h.dir, 'pod.yaml'), POD);
  // vm-web1 has a preparer (its status record and reality); vm-spare is only labelled.
  await h.store.put('reality/vm-web1/p2-preparer', 'id: p2-preparer\n');
  await new PreparerStatusStore(h.store).publish('vm-web1', {
    pod: 'p2-preparer',
    uniqueKey: '',
    state: 'running',
    updated: '2026-06-01T12:00:00.000Z',
  });
  await h.p2(['label', 'set', 'node', 'vm-spare', 'role=spare']);
});
afterAll(async () => {
  await h?.close();
});

describe('p2 nodes', () => {
  it('lists nodes: preparer, pods, last seen, labels', async () => {
    const r = await h.p2(['nodes', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toEqual([
      {
        node: 'vm-spare',
        status: 'no-preparer',
        preparer: false,
        labels: { role: 'spare' },
        pods: { intent: 0, reality: 0 },
        verdicts: {},
        version: null, // every field, null when unknown
        started: null,
        lastSeen: null,
      },
      {
        node: 'vm-web1',
        status: 'converging', // p2-preparer is in reality but not in intent: removing
        preparer: true,
        labels: {},
        pods: { intent: 0, reality: 1 },
        verdicts: { removing: 1 },
        version: null,
        started: null,
        lastSeen: '2026-06-01T12:00:00.000Z',
      },
    ]);
    const table = await h.p2(['nodes']);
    expect(table.out).toMatch(
      /^vm-web1\s+converging\s+1\/0\s+1 removing\s+2026-06-01T12:00:00.000Z\s+-\s+-$/m,
    );
  });
});

describe('p2 schedule --node', () => {
  it('refuses a node no preparer reported from, with the nearest names, unless --force', async () => {
    const r = await h.p2(['schedule', 'pod.yaml', '--node', 'vm-web2']);
    expect(r.code).toBe(ExitCode.NOT_FOUND);
    expect(r.err).toContain('no preparer has ever reported from node "vm-web2"');
    expect(r.err).toContain('did you mean vm-web1?');
    expect((await h.store.get('intent/vm-web2/p2t-nodes')).value).toBeUndefined();
    // Labelled but without a preparer: refused too.
    expect((await h.p2(['schedule', 'pod.yaml', '--node', 'vm-spare'])).code).toBe(
      ExitCode.NOT_FOUND,
    );
    const forced = await h.p2(['schedule', 'pod.yaml', '--node', 'vm-web2', '--force']);
    expect(forced.code).toBe(ExitCode.OK);
    expect((await h.store.get('intent/vm-web2/p2t-nodes')).value).toBeDefined();
    const ok = await h.p2(['schedule', 'pod.yaml', '--node', 'vm-web1']);
    expect(ok.code).toBe(ExitCode.OK);
  });

  it("accepts a node known only from its preparer's heartbeat; lists it ready, or stale when it stopped", async () => {
    const beat = (node: string, seen: Date) =>
      new PreparerStatusStore(h.store).heartbeat({
        node,
        version: '0.0.0',
        started: seen.toISOString(),
        seen: seen.toISOString(),
        heartbeatMs: 30_000,
      });
    await beat('vm-fresh', new Date());
    await beat('vm-gone', new Date(Date.now() - 91_000));
    const nodes = JSON.parse((await h.p2(['nodes', '--json'])).out) as Array<{
      node: string;
      status: string;
      version?: string;
    }>;
    expect(nodes.find((n) => n.node === 'vm-fresh')).toMatchObject({
      status: 'ready',
      version: '0.0.0',
    });
    expect(nodes.find((n) => n.node === 'vm-gone')?.status).toBe('stale');
    const ok = await h.p2(['schedule', 'pod.yaml', '--node', 'vm-fresh']);
    expect(ok.code, ok.err).toBe(ExitCode.OK);
    expect((await h.store.get('intent/vm-fresh/p2t-nodes')).value).toBeDefined();
  });
});
