/**
 * `p2 roll start --wait` against real farms: the RC and roll farms run in-process on the test's
 * kv-server, and simulated preparers (real reality and health records) stand in for the hosts.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { LabelStore } from '@p2/keyspace';
import { RcFarm } from '@p2/rc';
import { RollFarm } from '@p2/roll';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  passingCount,
  simulatePreparers,
} from '../../../../../packages/controller-kit/src/test-support.js';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('rollwait');
  await writeFile(join(h.dir, 'v1.yaml'), 'id: p2t-wait\nconfig:\n  v: 1\n');
  await writeFile(join(h.dir, 'v2.yaml'), 'id: p2t-wait\nconfig:\n  v: 2\n');
  const labels = new LabelStore(h.store);
  for (const n of ['p2t-wait-n1', 'p2t-wait-n2']) await labels.setLabel('node', n, 'role', 'wait');
});
afterAll(async () => {
  await h?.close();
});

const create = async (args: string[]) =>
  JSON.parse((await h.p2(['rc', 'create', ...args, '--json'])).out).id as string;

describe('p2 roll start --wait', () => {
  it('follows an update to its end and exits 0', async () => {
    const sim = simulatePreparers(h.store, { healthOf: () => 'passing' });
    const farmOptions = { sessionTtlMs: 10_000, lockDelayMs: 0, pollMs: 100 };
    const rcFarm = new RcFarm({ store: h.store }, { ...farmOptions, resyncMs: 100 }).start();
    const rollFarm = new RollFarm({ store: h.store }, { ...farmOptions, rollPollMs: 50 }).start();
    try {
      const oldRc = await create(['-m', 'v1.yaml', '-n', 'role=wait', '-r', '2']);
      await eventually(async () => (await passingCount(h.store, 'p2t-wait')) === 2);
      const newRc = await create(['-m', 'v2.yaml', '-n', 'role=wait', '--disabled']);
      const r = await h.p2([
        'roll',
        'start',
        '--old',
        oldRc,
        '--new',
        newRc,
        '-d',
        '2',
        '--minimum',
        '1',
        '--wait',
        '--poll',
        '50ms',
      ]);
      expect(r.code, r.err).toBe(ExitCode.OK);
      const lines = r.out.trim().split('\n');
      expect(lines[0]).toContain(`scheduled rolling update ${oldRc} → ${newRc}`);
      expect(lines).toContainEqual(
        expect.stringMatching(/^rolling: new [0-2]\/2 healthy \(\d scheduled\), old \d healthy/),
      );
      expect(lines.at(-2)).toMatch(/^succeeded: new \d\/2 healthy \(2 scheduled\)/);
      expect(lines.at(-1)).toBe(`rolling update ${newRc} succeeded`);
    } finally {
      await rollFarm.stop();
      await rcFarm.stop();
      await sim.stop();
    }
  });

  it('exits non-zero when the update is cancelled', async () => {
    const oldRc = await create(['-m', 'v1.yaml', '-n', 'role=wait']);
    const newRc = await create(['-m', 'v2.yaml', '-n', 'role=wait', '--disabled']);
    // No farm runs it: it stays pending until cancelled.
    const waiting = h.p2([
      'roll',
      'start',
      '--old',
      oldRc,
      '--new',
      newRc,
      '-d',
      '1',
      '--minimum',
      '0',
      '--wait',
      '--poll',
      '20ms',
      '--json',
    ]);
    await eventually(async () => (await h.store.get(`rolls/${newRc}`)).value !== undefined);
    expect((await h.p2(['roll', 'cancel', newRc])).code).toBe(ExitCode.OK);
    const r = await waiting;
    expect(r.code, r.out).toBe(ExitCode.FAILURE);
    expect(JSON.parse(r.out)).toMatchObject({ state: 'cancelled', roll: { newRc, oldRc } });
  });
});
