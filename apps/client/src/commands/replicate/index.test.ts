import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { LabelStore, PodTree } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  simulateNodes,
  simulatePrestagers,
} from '../../../../../packages/replicate/src/test-support.js';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const nodes = ['p2t-r1', 'p2t-r2', 'p2t-r3'];
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  h = await startHarness('replicate');
  const labels = new LabelStore(h.store);
  for (const node of nodes) await labels.setLabel('node', node, 'role', 'web');
  for (const pod of ['p2t-web', 'p2t-bad']) {
    const sim = await simulateNodes(h.store, pod, nodes, {
      healthOf: (node) => (pod === 'p2t-bad' && node === 'p2t-r2' ? 'critical' : 'passing'),
    });
    stops.push(sim.stop);
  }
  const staging = await simulatePrestagers(h.store, 'p2t-pre', nodes, (node) =>
    node === 'p2t-r3' ? { state: 'failed', reason: 'download: 404' } : { state: 'staged' },
  );
  stops.push(staging.stop);
  await writeFile(join(h.dir, 'web.yaml'), 'id: p2t-web\nconfig:\n  version: 2\n');
  await writeFile(join(h.dir, 'bad.yaml'), 'id: p2t-bad\nconfig:\n  version: 2\n');
  await writeFile(join(h.dir, 'pre.yaml'), 'id: p2t-pre\nconfig:\n  version: 2\n');
});
afterAll(async () => {
  for (const stop of stops) await stop();
  await h?.close();
});

describe('p2 replicate', () => {
  it('deploys to the nodes a selector picks and prints one JSON result', async () => {
    const r = await h.p2(['replicate', 'web.yaml', '--selector', 'role=web', '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.err).toBe('');
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ podId: 'p2t-web', alreadyDone: [] });
    expect([...result.updated].sort()).toEqual(nodes);
    const intent = new PodTree(h.store, 'intent');
    const stored = (await intent.getPod('p2t-r3', 'p2t-web')).value!.raw;
    expect(Buffer.from(stored).toString()).toBe('id: p2t-web\nconfig:\n  version: 2\n');
  });

  it('a re-run finds the nodes done; progress on stderr (live on a terminal), the result on stdout', async () => {
    const r = await h.p2(['replicate', 'web.yaml', '--hosts', nodes.join(',')]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.out).toBe('replicated p2t-web to 3 nodes (0 updated, 3 already done)\n');
    expect(r.err).toContain('p2t-r1: already done (1/3)\n');
    const tty = await h.p2(['replicate', 'web.yaml', '--hosts', 'p2t-r1,p2t-r2'], {
      isTTY: true,
    });
    expect(tty.code, tty.err).toBe(ExitCode.OK);
    expect(tty.err).toContain('\r\u001b[2Kp2t-web: 2/2 done');
  });

  it('stops on a node that does not become healthy in time, naming it', async () => {
    const r = await h.p2([
      'replicate',
      'bad.yaml',
      '--hosts',
      nodes.join(','),
      '--min-nodes',
      '2',
      '--timeout',
      '3s',
    ]);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toMatch(/P2_RC_NOT_HEALTHY/);
    expect(r.err).toMatch(/node p2t-r2 did not become healthy/);
    expect(
      (await new PodTree(h.store, 'intent').getPod('p2t-r3', 'p2t-bad')).value,
    ).toBeUndefined();
  });

  it('with --prestage, deploys nowhere unless every node staged the manifest first', async () => {
    const r = await h.p2(['replicate', 'pre.yaml', '--hosts', nodes.join(','), '--prestage']);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toContain('P2_RC_NOT_STAGED');
    expect(r.err).toContain('p2t-r3 (download: 404)');
    for (const node of nodes)
      expect((await new PodTree(h.store, 'intent').getPod(node, 'p2t-pre')).value).toBeUndefined();
    expect((await h.store.get('prestage/p2t-r1/p2t-pre')).value).toBeDefined();
  });

  it('wants exactly one of --hosts and --selector', async () => {
    const r = await h.p2(['replicate', 'web.yaml']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.err).toMatch(/either --hosts or --selector/);
  });
});
