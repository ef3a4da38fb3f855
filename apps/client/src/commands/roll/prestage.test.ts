import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { LabelStore, podLabelId } from '@p2/keyspace';
import { ReservedLabel } from '@p2/labels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatePrestagers } from '../../../../../packages/replicate/src/test-support.js';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
let rc1 = '';
let rc2 = '';
const nodes = ['p2t-rp1', 'p2t-rp2'];
const failing = new Set<string>();
let stop: () => Promise<void> = async () => {};

beforeAll(async () => {
  h = await startHarness('roll-prestage');
  await writeFile(join(h.dir, 'v1.yaml'), 'id: p2t-app\nconfig:\n  v: 1\n');
  await writeFile(join(h.dir, 'v2.yaml'), 'id: p2t-app\nconfig:\n  v: 2\n');
  const create = async (args: string[]) =>
    JSON.parse((await h.p2(['rc', 'create', ...args, '--json'])).out).id as string;
  rc1 = await create(['-m', 'v1.yaml', '-n', 'role=app', '-r', '2']);
  rc2 = await create(['-m', 'v2.yaml', '-n', 'role=app', '--disabled']);
  // The old RC's pods, as its farm would have labelled them.
  const labels = new LabelStore(h.store);
  for (const node of nodes)
    await labels.setLabel(
      'pod',
      podLabelId(node, 'p2t-app'),
      ReservedLabel.REPLICATION_CONTROLLER_ID,
      rc1,
    );
  ({ stop } = await simulatePrestagers(h.store, 'p2t-app', nodes, (node) =>
    failing.has(node) ? { state: 'failed', reason: 'download: 404' } : { state: 'staged' },
  ));
});
afterAll(async () => {
  await stop();
  await h?.close();
});

const start = (extra: string[]) =>
  h.p2(['roll', 'start', '--old', rc1, '--new', rc2, '-d', '2', '--minimum', '0', ...extra]);

describe('p2 roll start --prestage', () => {
  it("refuses to start while a node of the old RC has not staged the new RC's manifest", async () => {
    failing.add('p2t-rp2');
    const r = await start(['--prestage', '--force']);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toContain('P2_RC_NOT_STAGED');
    expect(r.err).toContain('p2t-rp2 (download: 404)');
    expect((await h.store.get(`rolls/${rc2}`)).value).toBeUndefined();
    failing.clear();
  });

  it("stages the new RC's manifest on every node of the old RC, then schedules the update", async () => {
    const r = await start(['--prestage', '--force']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.err).toContain('pre-staging p2t-app');
    expect(r.err).toContain('p2t-rp1: staged\n');
    expect(r.err).toContain('p2t-rp2: staged\n');
    const stored = (await h.store.get('prestage/p2t-rp2/p2t-app')).value?.value;
    expect(Buffer.from(stored ?? []).toString()).toBe('id: p2t-app\nconfig:\n  v: 2\n');
    expect((await h.store.get(`rolls/${rc2}`)).value).toBeDefined();
  });

  it('p2 roll run --prestage refuses the same way before creating the update', async () => {
    await h.p2(['roll', 'cancel', rc2]);
    failing.add('p2t-rp1');
    const r = await h.p2([
      'roll',
      'run',
      '--old',
      rc1,
      '--new',
      rc2,
      '-d',
      '2',
      '--minimum',
      '0',
      '--prestage',
      '--force',
    ]);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toContain('p2t-rp1 (download: 404)');
    expect((await h.store.get(`rolls/${rc2}`)).value).toBeUndefined();
    failing.clear();
  });
});
