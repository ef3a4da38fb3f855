import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { sweepDaemonSetOrphans } from '@p2/daemon-set';
import { LabelStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('ds');
  await writeFile(join(h.dir, 'agent.yaml'), 'id: p2t-agent\n');
  await writeFile(join(h.dir, 'agent2.yaml'), 'id: p2t-agent\nconfig:\n  v: 2\n');
  await writeFile(join(h.dir, 'other.yaml'), 'id: p2t-other\n');
});
afterAll(async () => {
  await h?.close();
});

describe('p2 ds', () => {
  it('creates, shows, lists, disables and deletes a daemon set', async () => {
    const r = await h.p2([
      'ds',
      'create',
      '-m',
      'agent.yaml',
      '-n',
      'role=web',
      '--cluster-name',
      'c1',
      '--min-health',
      '1',
      '--timeout',
      '2m',
      '--json',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    const ds = JSON.parse(r.out);
    expect(ds).toMatchObject({
      podId: 'p2t-agent',
      nodeSelector: 'role=web',
      minHealth: 1,
      clusterName: 'c1',
      timeoutMs: 120000,
      disabled: false,
    });
    expect((await h.store.get(`daemon_sets/${ds.id}`)).value).toBeDefined();
    expect((await h.p2(['ds', 'get', ds.id])).out).toMatch(/status\s+none yet/);
    expect(JSON.parse((await h.p2(['ds', 'list', '--json'])).out)).toHaveLength(1);
    await h.p2(['ds', 'disable', ds.id]);
    expect(JSON.parse((await h.p2(['ds', 'get', ds.id, '--json'])).out).disabled).toBe(true);
    expect((await h.p2(['ds', 'delete', ds.id])).code).toBe(ExitCode.OK);
    expect((await h.store.get(`daemon_sets/${ds.id}`)).value).toBeUndefined();
    expect((await h.p2(['ds', 'get', ds.id])).code).toBe(ExitCode.NOT_FOUND);
  });

  it('marks --cluster-name as required in its help', async () => {
    const r = await h.p2(['ds', 'create', '--help']);
    expect(r.out).toMatch(/--cluster-name <name>\s+cluster name \(required\)/);
  });

  it('needs a selector or --everywhere', async () => {
    const r = await h.p2(['ds', 'create', '-m', 'agent.yaml', '--cluster-name', 'c1']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('needs a node selector');
  });

  async function create(selector: string): Promise<string> {
    const r = await h.p2([
      'ds',
      'create',
      '-m',
      'agent.yaml',
      '-n',
      selector,
      '--cluster-name',
      'c1',
      '--json',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    return JSON.parse(r.out).id;
  }

  it('tests a selector: the nodes it matches, and what it adds and removes for a daemon set', async () => {
    const labels = new LabelStore(h.store);
    await labels.setLabel('node', 'p2t-ts-a', 'tier', 'one');
    await labels.setLabel('node', 'p2t-ts-b', 'tier', 'one');
    await labels.setLabel('node', 'p2t-ts-c', 'tier', 'two');
    const id = await create('tier=one');
    const r = await h.p2(['ds', 'test-selector', 'tier in (one,two)', '--ds', id, '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toEqual({
      matching: ['p2t-ts-a', 'p2t-ts-b', 'p2t-ts-c'],
      added: ['p2t-ts-c'],
      removed: [],
    });
    const text = await h.p2(['ds', 'test-selector', 'tier=two', '--ds', id]);
    expect(text.out).toBe(
      `1 node(s) match:\n  p2t-ts-c\ncompared with daemon set ${id}: 1 added, 2 removed\n  + p2t-ts-c\n  - p2t-ts-a\n  - p2t-ts-b\n`,
    );
    expect((await h.p2(['ds', 'test-selector'])).code).toBe(ExitCode.USAGE);
    await h.p2(['ds', 'delete', id]);
  });

  it('updates only what differs (P2: p2-dsctl update)', async () => {
    const labels = new LabelStore(h.store);
    await labels.setLabel('node', 'p2t-up-a', 'zone', 'x');
    await labels.setLabel('node', 'p2t-up-b', 'zone', 'y');
    const id = await create('zone=x');
    const same = await h.p2(['ds', 'update', id, '--selector', 'zone=x', '--min-health', '0']);
    expect(same.code).toBe(ExitCode.INVALID_INPUT);
    expect(same.err).toContain(`no changes were made to daemon set ${id}`);
    const r = await h.p2([
      'ds',
      'update',
      id,
      '--selector',
      'zone=y',
      '--min-health',
      '1',
      '-m',
      'agent2.yaml',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.out).toBe(
      `${id}: updated manifest, nodeSelector, minHealth\n  + p2t-up-b\n  - p2t-up-a\n`,
    );
    const got = JSON.parse((await h.p2(['ds', 'get', id, '--json'])).out);
    expect(got).toMatchObject({ nodeSelector: 'zone=y', minHealth: 1, timeoutMs: 600000 });
    const timeout = JSON.parse((await h.p2(['ds', 'update', id, '--timeout', '1m', '--json'])).out);
    expect(timeout).toMatchObject({ changed: ['timeoutMs'], ds: { timeoutMs: 60000 } });
    const other = await h.p2(['ds', 'update', id, '-m', 'other.yaml']);
    expect(other.code).toBe(ExitCode.INVALID_INPUT);
    expect(other.err).toContain('runs pod "p2t-agent"');
    await h.p2(['ds', 'delete', id]);
  });

  it("delete: the record goes at once; the farm's orphan sweep then unschedules its pods", async () => {
    const id = await create('zone=z');
    const labels = new LabelStore(h.store);
    // What the farm had scheduled: intent plus the daemon_set_id pod label.
    await h.store.put('intent/p2t-del-a/p2t-agent', 'id: p2t-agent\n');
    await labels.setLabels('pod', 'p2t-del-a/p2t-agent', { daemon_set_id: id });
    expect((await h.p2(['ds', 'delete', id])).out).toBe(`${id}: deleted\n`);
    expect((await h.store.get('intent/p2t-del-a/p2t-agent')).value).toBeDefined();
    expect(await sweepDaemonSetOrphans(h.store, labels, new Set())).toEqual([
      'p2t-del-a/p2t-agent',
    ]);
    expect((await h.store.get('intent/p2t-del-a/p2t-agent')).value).toBeUndefined();
    const help = await h.p2(['ds', 'delete', '--help']);
    expect(help.out).toContain('the daemon set farm then unschedules its pods');
  });
});
