import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('label');
});
afterAll(async () => {
  await h?.close();
});

describe('p2 label', () => {
  it('sets labels on nodes (merging) and reads them back in P2 show format', async () => {
    expect((await h.p2(['label', 'set', 'node', 'n1', 'role=web', 'zone=a'])).out).toBe(
      'node/n1: role=web,zone=a\n',
    );
    await h.p2(['label', 'set', 'node', 'n1', 'zone=b']);
    await h.p2(['label', 'set', 'node', 'n2', 'role=db', 'zone=b']);
    const r = await h.p2(['label', 'get', 'node', 'n1', '--json']);
    expect(JSON.parse(r.out)).toEqual({
      type: 'node',
      id: 'n1',
      labels: { role: 'web', zone: 'b' },
    });
    expect(
      JSON.parse(new TextDecoder().decode((await h.store.get('labels/node/n1')).value?.value)),
    ).toEqual({
      role: 'web',
      zone: 'b',
    });
  });

  it('refuses a pod id that is not <node>/<pod> or a UUID, and a pod that does not exist', async () => {
    const bad = await h.p2(['label', 'get', 'pod', 'nosuch']);
    expect(bad.code).toBe(ExitCode.INVALID_INPUT);
    expect(bad.err).toContain('not a pod label id');
    expect(bad.out).toBe('');
    const missing = await h.p2(['label', 'get', 'pod', 'n9/p2t-nosuch']);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(missing.err).toContain('no pod p2t-nosuch on n9');
    await h.store.put('reality/n9/p2t-there', 'id: p2t-there\n');
    const there = await h.p2(['label', 'get', 'pod', 'n9/p2t-there', '--json']);
    expect(there.code).toBe(ExitCode.OK);
    expect(JSON.parse(there.out).labels).toEqual({});
  });

  it('queries by selector', async () => {
    const r = await h.p2(['label', 'query', 'node', 'zone=b,role in (web,db)', '--json']);
    expect(JSON.parse(r.out).map((v: { id: string }) => v.id)).toEqual(['n1', 'n2']);
    const web = await h.p2(['label', 'query', 'node', 'role!=db']);
    expect(web.out.split('\n')[1]).toMatch(/^n1\s+role=web,zone=b$/);
    expect((await h.p2(['label', 'query', 'node', 'role=cache'])).out).toContain('no node matches');
  });

  it('labels pods by <node>/<pod>', async () => {
    await h.p2(['label', 'set', 'pod', 'n1/hello', 'team=x']);
    expect((await h.store.get('labels/pod/n1/hello')).value).toBeDefined();
    expect((await h.p2(['label', 'query', 'pod', 'team'])).out).toContain('n1/hello');
  });

  it('removes keys, and all labels with --all (the record goes)', async () => {
    expect((await h.p2(['label', 'rm', 'node', 'n1', 'zone'])).out).toBe('node/n1: role=web\n');
    await h.p2(['label', 'rm', 'node', 'n1', '--all']);
    expect((await h.store.get('labels/node/n1')).value).toBeUndefined();
    expect((await h.p2(['label', 'rm', 'node', 'n1'])).code).toBe(ExitCode.USAGE);
  });

  it('sets and removes labels on every entity matching --selector (P2: apply -s)', async () => {
    await h.p2(['label', 'set', 'node', 'm1', 'pool=blue']);
    await h.p2(['label', 'set', 'node', 'm2', 'pool=blue']);
    await h.p2(['label', 'set', 'node', 'm3', 'pool=green']);
    const r = await h.p2([
      'label',
      'set',
      'node',
      '--selector',
      'pool=blue',
      'drain=true',
      '--json',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toEqual([
      { type: 'node', id: 'm1', labels: { pool: 'blue', drain: 'true' } },
      { type: 'node', id: 'm2', labels: { pool: 'blue', drain: 'true' } },
    ]);
    expect(JSON.parse((await h.p2(['label', 'get', 'node', 'm3', '--json'])).out).labels).toEqual({
      pool: 'green',
    });
    const rm = await h.p2(['label', 'rm', 'node', '-s', 'drain', 'drain']);
    expect(rm.out).toBe('node/m1: pool=blue\nnode/m2: pool=blue\n');
    expect((await h.p2(['label', 'set', 'node', '-s', 'pool=none', 'x=1'])).out).toContain(
      'no entity matched',
    );
    expect((await h.p2(['label', 'set', 'node', 'm1'])).code).toBe(ExitCode.USAGE);
  });

  it('explains a bad selector, type, label or assignment', async () => {
    const sel = await h.p2(['label', 'query', 'node', 'zone in b']);
    expect(sel.code).toBe(ExitCode.INVALID_INPUT);
    expect(sel.err).toContain("expected '('");
    const type = await h.p2(['label', 'get', 'nodes', 'n1']);
    expect(type.code).toBe(ExitCode.INVALID_INPUT);
    expect(type.err).toContain('P2_LABELS_INVALID_TYPE');
    expect((await h.p2(['label', 'set', 'node', 'n1', 'bad key=1'])).code).toBe(
      ExitCode.INVALID_INPUT,
    );
    expect((await h.p2(['label', 'set', 'node', 'n1', 'novalue'])).code).toBe(ExitCode.USAGE);
  });
});
