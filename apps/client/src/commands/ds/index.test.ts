import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('ds');
  await writeFile(join(h.dir, 'agent.yaml'), 'id: p2t-agent\n');
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

  it('needs a selector or --everywhere', async () => {
    const r = await h.p2(['ds', 'create', '-m', 'agent.yaml', '--cluster-name', 'c1']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('needs a node selector');
  });
});
