/**
 * `p2 roll run` against a real kv-server with the RC farm running in-process and simulated
 * preparers (real reality and health records): the run moves the replicas itself, refuses
 * desired < minimum, stops on SIGINT (a real child process) leaving the update to resume, and
 * reports a roll farm that holds the update's claim instead of driving it too.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '@p2/cli-kit';
import { LabelStore, lockKeys, podHealthPrefix, rcKey, rollKey } from '@p2/keyspace';
import { RcFarm } from '@p2/rc';
import { RollFarm } from '@p2/roll';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  passingCount,
  simulatePreparers,
} from '../../../../../packages/controller-kit/src/test-support.js';
import { type Harness, startHarness } from '../../test-support.js';

const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));
const farmOptions = { sessionTtlMs: 10_000, lockDelayMs: 0, pollMs: 100 };
/** What the simulated preparers report for version 2 of a pod. */
let v2Health: 'passing' | 'critical' = 'passing';

let h: Harness;
let rcFarm: RcFarm;
let sim: { stop: () => Promise<void> };

beforeAll(async () => {
  h = await startHarness('rollrun');
  const labels = new LabelStore(h.store);
  for (const role of ['a', 'b', 'c']) {
    await writeFile(join(h.dir, `${role}1.yaml`), `id: p2t-run-${role}\nconfig:\n  v: 1\n`);
    await writeFile(join(h.dir, `${role}2.yaml`), `id: p2t-run-${role}\nconfig:\n  v: 2\n`);
    for (const n of [1, 2]) await labels.setLabel('node', `p2t-run-${role}${n}`, 'role', role);
  }
  sim = simulatePreparers(h.store, {
    healthOf: (manifest) => (manifest.includes('v: 2') ? v2Health : 'passing'),
  });
  rcFarm = new RcFarm({ store: h.store }, { ...farmOptions, resyncMs: 100 }).start();
});
afterAll(async () => {
  await rcFarm?.stop();
  await sim?.stop();
  await h?.close();
});

/** Turns v2 passing, also on the nodes already reporting (the preparers report a change only). */
async function healV2(role: string): Promise<void> {
  v2Health = 'passing';
  for (const e of (await h.store.list(podHealthPrefix(`p2t-run-${role}`))).value) {
    const text = new TextDecoder().decode(e.value);
    await h.store.put(e.key, text.replace('"Status":"critical"', '"Status":"passing"'));
  }
}

/** Two RCs for `role`: the old one running 2 passing replicas, the new one disabled. */
async function rcPair(role: string): Promise<{ oldRc: string; newRc: string }> {
  const create = async (args: string[]) =>
    JSON.parse((await h.p2(['rc', 'create', ...args, '--json'])).out).id as string;
  const oldRc = await create(['-m', `${role}1.yaml`, '-n', `role=${role}`, '-r', '2']);
  await eventually(async () => (await passingCount(h.store, `p2t-run-${role}`)) === 2);
  const newRc = await create(['-m', `${role}2.yaml`, '-n', `role=${role}`, '--disabled']);
  return { oldRc, newRc };
}

const runArgs = (oldRc: string, newRc: string, ...rest: string[]) => [
  'roll',
  'run',
  '--old',
  oldRc,
  '--new',
  newRc,
  ...'-d 2 --minimum 1 --poll 50ms'.split(' '),
  ...rest,
];

describe('p2 roll run', () => {
  it('runs the update in this process to its end and exits 0', async () => {
    v2Health = 'passing';
    const { oldRc, newRc } = await rcPair('a');
    const r = await h.p2(runArgs(oldRc, newRc, '--json'));
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toMatchObject({
      outcome: 'succeeded',
      resumed: false,
      roll: { oldRc, newRc, desiredReplicas: 2, minimumReplicas: 1 },
      status: { state: 'succeeded', new: { current: 2 } },
    });
    expect((await h.store.get(rcKey(oldRc))).value).toBeUndefined();
    expect((await h.store.get(rollKey(newRc))).value).toBeUndefined();
    expect((await h.store.get(lockKeys.roll(newRc))).value).toBeUndefined();
    await eventually(async () => (await passingCount(h.store, 'p2t-run-a')) === 2);
  });

  it('refuses desired < minimum as a usage error, writing nothing', async () => {
    const r = await h.p2([
      'roll',
      'run',
      '--old',
      'x',
      '--new',
      'p2t-none',
      '-d',
      '1',
      '--minimum',
      '2',
    ]);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.err).toContain('--desired (1) must be at least --minimum (2)');
    expect((await h.store.get(rollKey('p2t-none'))).value).toBeUndefined();
  });

  it('stops on SIGINT with the update left in the store; a later run resumes it', async () => {
    v2Health = 'critical'; // the first new replica never becomes healthy: the update blocks
    const { oldRc, newRc } = await rcPair('b');
    const child = spawn(
      process.execPath,
      [
        '--import',
        join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'),
        join(repoRoot, 'apps/client/src/cli.ts'),
        ...runArgs(oldRc, newRc),
      ],
      {
        env: {
          ...process.env,
          P2_STORE: h.url,
          TSX_TSCONFIG_PATH: join(repoRoot, 'tsconfig.json'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await eventually(async () => out.includes('blocking for more healthy replicas'), 30_000);
      child.kill('SIGINT');
      expect(await exited, out).toBe(ExitCode.FAILURE);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const lines = out.trim().split('\n');
    expect(lines[0]).toContain(`running rolling update ${oldRc} → ${newRc}`);
    expect(lines).toContainEqual(expect.stringMatching(/^rolling: new 0\/2 healthy/));
    expect(out).toContain(`rolling update ${newRc} interrupted`);
    expect(out).toContain('a roll farm (p2-controllers) resumes it');
    expect((await h.store.get(rollKey(newRc))).value).toBeDefined();
    expect((await h.store.get(lockKeys.roll(newRc))).value).toBeUndefined();

    await healV2('b');
    // On a terminal: one live line redrawn in place.
    const again = await h.p2(runArgs(oldRc, newRc), { isTTY: true });
    expect(again.code, again.err).toBe(ExitCode.OK);
    expect(again.out).toContain(`resuming\u001b[39m rolling update ${oldRc} → ${newRc}`);
    // Done once both new replicas are scheduled (without --deadline not all need be healthy yet).
    expect(again.out).toMatch(/\r\u001b\[2Ksucceeded: new \d\/2 healthy \(2 scheduled\)/);
    expect(again.out).toContain(`rolling update ${newRc} succeeded`);
  }, 60_000);

  it('leaves an update a roll farm holds to the farm: outcome locked, exit non-zero', async () => {
    v2Health = 'critical'; // keeps the farm's run going
    const { oldRc, newRc } = await rcPair('c');
    const rollFarm = new RollFarm({ store: h.store }, { ...farmOptions, rollPollMs: 50 }).start();
    try {
      const start = await h.p2([
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
      ]);
      expect(start.code, start.err).toBe(ExitCode.OK);
      await eventually(async () => (await h.store.get(lockKeys.roll(newRc))).value !== undefined);
      const r = await h.p2(runArgs(oldRc, newRc, '--json'));
      expect(r.code, r.out).toBe(ExitCode.FAILURE);
      const report = JSON.parse(r.out);
      expect(report).toMatchObject({ outcome: 'locked', resumed: true });
      expect(report.holder).toMatch(/^p2-roll-farm:/);
      const text = await h.p2(runArgs(oldRc, newRc));
      expect(text.code).toBe(ExitCode.FAILURE);
      expect(text.out).toContain(`rolling update ${newRc} is locked: p2-roll-farm:`);
      // The farm still drives it: once healthy, it finishes.
      await healV2('c');
      await eventually(async () => (await h.store.get(rollKey(newRc))).value === undefined, 30_000);
    } finally {
      await rollFarm.stop();
    }
  }, 60_000);
});
