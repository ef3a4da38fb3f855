import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { encodeRcStatus, LabelStore, rcStatusKey } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
let rc1 = '';
let rc2 = '';

beforeAll(async () => {
  h = await startHarness('rc');
  await writeFile(join(h.dir, 'v1.yaml'), 'id: p2t-web\nconfig:\n  v: 1\n');
  await writeFile(join(h.dir, 'v2.yaml'), 'id: p2t-web\nconfig:\n  v: 2\n');
  await writeFile(join(h.dir, 'agent.yaml'), 'id: p2t-agent\n');
});
afterAll(async () => {
  await h?.close();
});

describe('p2 rc', () => {
  it('creates a controller record with P2 fields and labels', async () => {
    const r = await h.p2([
      'rc',
      'create',
      '-m',
      'v1.yaml',
      '-n',
      'role=web',
      '-r',
      '2',
      '-p',
      'team=x',
      '-a',
      'az1',
      '--spread-key',
      'availability_zone',
      '--json',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    const rc = JSON.parse(r.out);
    rc1 = rc.id;
    expect(rc).toMatchObject({
      podId: 'p2t-web',
      nodeSelector: 'role=web',
      replicasDesired: 2,
      disabled: false,
      topologySpreadKey: 'availability_zone',
    });
    expect(rc.podLabels).toMatchObject({ team: 'x', availability_zone: 'az1' });
    const stored = JSON.parse(
      new TextDecoder().decode((await h.store.get(`replication_controllers/${rc1}`)).value?.value),
    );
    expect(stored).toMatchObject({ id: rc1, node_selector: 'role=web', replicas_desired: 2 });
    expect(
      JSON.parse(
        new TextDecoder().decode(
          (await h.store.get(`labels/replication_controller/${rc1}`)).value?.value,
        ),
      ).pod_id,
    ).toBe('p2t-web');
  });

  it('gets one (with the nodes its pods are on) and lists all', async () => {
    await new LabelStore(h.store).setLabels('pod', 'n1/p2t-web', {
      replication_controller_id: rc1,
      pod_id: 'p2t-web',
    });
    const got = JSON.parse((await h.p2(['rc', 'get', rc1, '--json'])).out);
    expect(got.nodes).toEqual(['n1']);
    expect((await h.p2(['rc', 'get', rc1])).out).toMatch(/replicas\s+2 desired, 1 current/);
    expect((await h.p2(['rc', 'get', rc1, '--manifest'])).out).toBe(
      'id: p2t-web\nconfig:\n  v: 1\n',
    );
    const r2 = await h.p2([
      'rc',
      'create',
      '-m',
      'v2.yaml',
      '-n',
      'role=web',
      '--disabled',
      '--json',
    ]);
    rc2 = JSON.parse(r2.out).id;
    const list = JSON.parse((await h.p2(['rc', 'list', '--json'])).out);
    expect(list.map((r: { id: string }) => r.id).sort()).toEqual([rc1, rc2].sort());
    expect((await h.p2(['rc', 'list'])).out.split('\n')[0]).toMatch(
      /^ID\s+POD\s+REPLICAS\s+ENABLED\s+SELECTOR$/,
    );
  });

  it('sets replicas, disables and enables', async () => {
    expect((await h.p2(['rc', 'set-replicas', rc1, '3'])).out).toBe(`${rc1}: replicas set to 3\n`);
    expect((await h.p2(['rc', 'set-replicas', rc1, '-1'])).code).toBe(ExitCode.USAGE);
    expect((await h.p2(['rc', 'disable', rc1])).out).toContain('disabled');
    expect(JSON.parse((await h.p2(['rc', 'get', rc1, '--json'])).out)).toMatchObject({
      replicasDesired: 3,
      disabled: true,
    });
    await h.p2(['rc', 'enable', rc1]);
    expect(JSON.parse((await h.p2(['rc', 'get', rc1, '--json'])).out).disabled).toBe(false);
  });

  it('replaces the manifest of a controller (same pod id only)', async () => {
    const r = await h.p2(['rc', 'update-manifest', rc1, 'v2.yaml', '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect((await h.p2(['rc', 'get', rc1, '--manifest'])).out).toBe(
      'id: p2t-web\nconfig:\n  v: 2\n',
    );
    const other = await h.p2(['rc', 'update-manifest', rc1, 'agent.yaml']);
    expect(other.code).toBe(ExitCode.INVALID_INPUT);
    await h.p2(['rc', 'update-manifest', rc1, 'v1.yaml']);
  });

  it('prints the status record as p2-rctl get-status did', async () => {
    expect((await h.p2(['rc', 'get-status', rc1])).out).toBe('{}\n');
    // What the RC farm writes while it moves a replica off an ineligible node.
    const transfer = { old_node: 'n1', new_node: 'n2', id: '6f1c9d2e-0000-4000-8000-000000000001' };
    await h.store.put(rcStatusKey(rc1), encodeRcStatus({ node_transfer: transfer }));
    const r = await h.p2(['rc', 'get-status', rc1]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.out).toBe(
      `{\n    "node_transfer": {\n        "old_node": "n1",\n        "new_node": "n2",\n        "id": "${transfer.id}"\n    }\n}\n`,
    );
    expect(JSON.parse((await h.p2(['rc', 'get-status', rc1, '--json'])).out)).toEqual({
      id: rc1,
      status: { nodeTransfer: { id: transfer.id, oldNode: 'n1', newNode: 'n2' } },
    });
    expect(JSON.parse((await h.p2(['rc', 'get', rc1, '--json'])).out).nodeTransfer).toEqual({
      id: transfer.id,
      oldNode: 'n1',
      newNode: 'n2',
    });
    expect((await h.p2(['rc', 'get', rc1])).out).toMatch(/transfer\s+n1 → n2 \(in progress/);
    await h.store.put(rcStatusKey(rc1), encodeRcStatus({}));
    expect((await h.p2(['rc', 'get', rc1])).out).not.toContain('transfer');
  });

  it('changes the allocation strategy (validated), and shows status under `rc status` too', async () => {
    const r = await h.p2(['rc', 'update-strategy', rc1, '--strategy', 'dynamic_strategy']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.out).toBe(`${rc1}: allocation strategy is now dynamic_strategy\n`);
    const stored = JSON.parse(
      new TextDecoder().decode((await h.store.get(`replication_controllers/${rc1}`)).value?.value),
    );
    expect(stored.allocation_strategy).toBe('dynamic_strategy');
    const bad = await h.p2(['rc', 'update-strategy', rc1, '--strategy', 'spread']);
    expect(bad.code).toBe(ExitCode.INVALID_INPUT);
    expect(bad.err).toContain('unknown allocation strategy "spread"');
    expect(
      (await h.p2(['rc', 'update-strategy', 'p2t-nope', '--strategy', 'static_strategy'])).code,
    ).toBe(ExitCode.NOT_FOUND);
    expect((await h.p2(['rc', 'status', rc1])).out).toBe(
      (await h.p2(['rc', 'get-status', rc1])).out,
    );
  });

  it('explains errors: unknown id (4), bad selector (3)', async () => {
    const missing = await h.p2(['rc', 'get', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect((await h.p2(['rc', 'create', '-m', 'v1.yaml', '-n', 'zone in b'])).code).toBe(
      ExitCode.INVALID_INPUT,
    );
  });
});

describe('p2 rc delete', () => {
  it('refuses while replicas are wanted, unless --force', async () => {
    const r = await h.p2(['rc', 'delete', rc1]);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('P2_RC_HAS_REPLICAS');
    expect((await h.p2(['rc', 'delete', rc2])).code).toBe(ExitCode.OK);
    expect((await h.p2(['rc', 'delete', rc1, '--force'])).code).toBe(ExitCode.OK);
    expect((await h.store.keys('replication_controllers/')).value).toEqual([]);
    expect((await h.store.keys('status/replication_controllers/')).value).toEqual([]);
    const gone = await h.p2(['rc', 'get-status', rc1]);
    expect(gone.code).toBe(ExitCode.OK);
    expect(gone.out).toBe(`no status found for ${rc1}\n`);
    expect(JSON.parse((await h.p2(['rc', 'get-status', rc1, '--json'])).out).status).toBeNull();
  });
});
