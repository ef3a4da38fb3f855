import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { LabelStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatePrestagers } from '../../../../../packages/replicate/src/test-support.js';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const nodes = ['p2t-p1', 'p2t-p2'];
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  h = await startHarness('prestage');
  const labels = new LabelStore(h.store);
  for (const node of nodes) await labels.setLabel('node', node, 'role', 'web');
  const ok = await simulatePrestagers(h.store, 'p2t-web', nodes, () => ({ state: 'staged' }));
  const bad = await simulatePrestagers(h.store, 'p2t-bad', nodes, (node) =>
    node === 'p2t-p2'
      ? { state: 'failed', reason: 'not authorized: unknown signer' }
      : { state: 'staged' },
  );
  stops.push(ok.stop, bad.stop);
  await writeFile(join(h.dir, 'web.yaml'), 'id: p2t-web\nconfig:\n  version: 2\n');
  await writeFile(join(h.dir, 'bad.yaml'), 'id: p2t-bad\nconfig:\n  version: 2\n');
});
afterAll(async () => {
  for (const stop of stops) await stop();
  await h?.close();
});

describe('p2 prestage', () => {
  it('writes the request on the nodes a selector picks and waits until each staged it', async () => {
    const r = await h.p2(['prestage', 'web.yaml', '--selector', 'role=web', '--wait', '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ podId: 'p2t-web' });
    expect(result.nodes).toEqual(nodes.map((node) => ({ node, state: 'staged' })));
    const stored = (await h.store.get('prestage/p2t-p1/p2t-web')).value?.value;
    expect(Buffer.from(stored ?? []).toString()).toBe('id: p2t-web\nconfig:\n  version: 2\n');
  });

  it('fails naming the node that refused, with its reason', async () => {
    const r = await h.p2([
      'prestage',
      'bad.yaml',
      '--node',
      'p2t-p1',
      '--node',
      'p2t-p2',
      '--wait',
    ]);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toMatch(/P2_RC_NOT_STAGED/);
    expect(r.err).toMatch(/p2t-p2 \(not authorized: unknown signer\)/);
    expect(r.err).toContain('p2t-p1: staged\n');
  });

  it('without --wait only requests; wants exactly one way of naming nodes', async () => {
    const r = await h.p2(['prestage', 'web.yaml', '--hosts', 'p2t-p1']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.out).toMatch(/^requested p2t-web \([0-9a-f]{12}\) on 1 nodes\n$/);
    const usage = await h.p2(['prestage', 'web.yaml']);
    expect(usage.code).toBe(ExitCode.USAGE);
    expect(usage.err).toMatch(/either --node\/--hosts or --selector/);
  });

  it('--cancel withdraws the request and its answer on each node', async () => {
    expect((await h.p2(['prestage', 'web.yaml', '--hosts', 'p2t-p1,p2t-p2', '--wait'])).code).toBe(
      ExitCode.OK,
    );
    const r = await h.p2(['prestage', 'web.yaml', '--selector', 'role=web', '--cancel', '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toEqual({ podId: 'p2t-web', nodes, state: 'cancelled' });
    for (const node of nodes) {
      expect((await h.store.get(`prestage/${node}/p2t-web`)).value).toBeUndefined();
      expect((await h.store.get(`status/prestage/${node}/p2t-web`)).value).toBeUndefined();
    }
  });
});
