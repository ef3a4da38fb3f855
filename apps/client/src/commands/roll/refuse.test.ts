/**
 * `p2 roll start|run` refuse updates that cannot keep their promise. Labels, intent, reality and
 * health are written here as the RC farm, preparer and health checker write them.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { HealthStore, PodTree } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
let oldRc: string;
let newRc: string;
const V1 = 'id: p2t-refuse\nconfig:\n  v: 1\n';
beforeAll(async () => {
  h = await startHarness('roll-refuse');
  await writeFile(join(h.dir, 'v1.yaml'), V1);
  await writeFile(join(h.dir, 'v2.yaml'), 'id: p2t-refuse\nconfig:\n  v: 2\n');
  const create = async (args: string[]) =>
    JSON.parse((await h.p2(['rc', 'create', ...args, '--json'])).out).id as string;
  oldRc = await create(['-m', 'v1.yaml', '-n', 'role=refuse', '-r', '1']);
  newRc = await create(['-m', 'v2.yaml', '-n', 'role=refuse', '--disabled']);
  // One host (as the quick start) running the old RC's replica, healthy.
  await h.p2(['label', 'set', 'node', 'p2t-h1', 'role=refuse']);
  const manifest = parseManifest(V1);
  await new PodTree(h.store, 'intent').setPod('p2t-h1', manifest);
  await h.p2(['label', 'set', 'pod', 'p2t-h1/p2t-refuse', `replication_controller_id=${oldRc}`]);
  await new PodTree(h.store, 'reality').setPod('p2t-h1', manifest);
  await new HealthStore(h.store).put({
    podId: 'p2t-refuse',
    node: 'p2t-h1',
    status: 'passing',
    time: new Date(Date.now() + 1000),
  });
});
afterAll(async () => {
  await h?.close();
});

const start = (...extra: string[]) =>
  h.p2(['roll', 'start', '--old', oldRc, '--new', newRc, '-d', '1', ...extra]);

describe('p2 roll start refusals', () => {
  it('refuses surge when a node of the selector already runs the pod id, naming it', async () => {
    const r = await start('--minimum', '0', '--strategy', 'surge');
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('--strategy surge would replace p2t-refuse in place on p2t-h1');
    expect((await h.store.get(`rolls/${newRc}`)).value).toBeUndefined();
  });

  it('refuses a minimum above the old RC desired or healthy count', async () => {
    const above = await start('--minimum', '2');
    expect(above.code).toBe(ExitCode.INVALID_INPUT);
    expect(above.err).toContain("minimum 2 is more than the old RC's 1 desired replicas");
    await new HealthStore(h.store).put({
      podId: 'p2t-refuse',
      node: 'p2t-h1',
      status: 'critical',
      time: new Date(Date.now() + 2000),
    });
    const unhealthy = await start('--minimum', '1');
    expect(unhealthy.code).toBe(ExitCode.INVALID_INPUT);
    expect(unhealthy.err).toContain("minimum 1 is more than the old RC's 0 healthy replicas now");
    const run = await h.p2([
      'roll',
      'run',
      '--old',
      oldRc,
      '--new',
      newRc,
      '-d',
      '1',
      '--minimum',
      '1',
    ]);
    expect(run.code).toBe(ExitCode.INVALID_INPUT);
  });

  it('accepts what can keep its promise, and --force', async () => {
    expect((await start('--minimum', '0')).code).toBe(ExitCode.OK);
    await h.p2(['roll', 'cancel', newRc]);
    expect((await start('--minimum', '0', '--strategy', 'surge', '--force')).code).toBe(
      ExitCode.OK,
    );
  });
});

describe('p2 roll status', () => {
  it('--watch prints on every change with readable headers, and ends when the update is cancelled', async () => {
    const watching = h.p2(['roll', 'status', newRc.slice(0, 8), '--watch']);
    for (let i = 0; i < 200 && !(await h.store.get(`rolls/${newRc}`)).value; i++)
      await new Promise((r) => setTimeout(r, 20));
    await h.p2(['roll', 'pause', newRc]);
    await h.p2(['roll', 'cancel', newRc]);
    const r = await watching;
    expect(r.code).toBe(ExitCode.OK);
    expect(r.out).toContain('NEW HEALTHY/SCHEDULED/DESIRED');
    expect(r.out).not.toContain('H/C/D');
    expect(r.out.match(/OLD RC/g)?.length).toBeGreaterThanOrEqual(1);
  });
});
