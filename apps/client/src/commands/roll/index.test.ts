import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
let rc1 = '';
let rc2 = '';

beforeAll(async () => {
  h = await startHarness('roll');
  await writeFile(join(h.dir, 'v1.yaml'), 'id: p2t-web\nconfig:\n  v: 1\n');
  await writeFile(join(h.dir, 'v2.yaml'), 'id: p2t-web\nconfig:\n  v: 2\n');
  const create = async (args: string[]) =>
    JSON.parse((await h.p2(['rc', 'create', ...args, '--json'])).out).id as string;
  rc1 = await create(['-m', 'v1.yaml', '-n', 'role=web', '-r', '3']);
  rc2 = await create(['-m', 'v2.yaml', '-n', 'role=web', '--disabled']);
});
afterAll(async () => {
  await h?.close();
});

describe('p2 roll', () => {
  it('schedules an update, shows it, pauses, resumes and cancels it', async () => {
    const r = await h.p2([
      'roll',
      'start',
      '--old',
      rc1,
      '--new',
      rc2,
      '-d',
      '3',
      '--minimum',
      '2',
      '--strategy',
      'surge',
      '--deadline',
      '5m',
      '--rollback',
      '--force', // no replica is healthy (no preparer here): the update could not step
      '--json',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toMatchObject({
      oldRc: rc1,
      newRc: rc2,
      desiredReplicas: 3,
      minimumReplicas: 2,
      strategy: 'surge',
      progressDeadlineMs: 300000,
      autoRollback: true,
    });
    expect((await h.store.get(`rolls/${rc2}`)).value).toBeDefined();
    const status = await h.p2(['roll', 'status']);
    expect(status.out).toMatch(new RegExp(`${rc2}\\s+${rc1}\\s+pending`));
    await h.p2(['roll', 'pause', rc2]);
    expect(JSON.parse((await h.p2(['roll', 'status', rc2, '--json'])).out).roll.paused).toBe(true);
    await h.p2(['roll', 'resume', rc2]);
    expect(JSON.parse((await h.p2(['roll', 'status', rc2, '--json'])).out).roll.paused).toBe(false);
    expect((await h.p2(['roll', 'cancel', rc2])).out).toBe(`${rc2}: cancelled\n`);
    expect((await h.store.get(`rolls/${rc2}`)).value).toBeUndefined();
    expect((await h.p2(['roll', 'status', rc2])).code).toBe(ExitCode.NOT_FOUND);
  });

  it('refuses bad updates', async () => {
    expect(
      (await h.p2(['roll', 'start', '--old', rc1, '--new', rc2, '-d', '1', '--minimum', '2'])).code,
    ).toBe(ExitCode.INVALID_INPUT);
    expect(
      (
        await h.p2([
          'roll',
          'start',
          '--old',
          rc1,
          '--new',
          rc2,
          '-d',
          '3',
          '--minimum',
          '2',
          '--strategy',
          'fast',
        ])
      ).code,
    ).toBe(ExitCode.USAGE);
    expect(
      (
        await h.p2([
          'roll',
          'start',
          '--old',
          rc1,
          '--new',
          rc2,
          '-d',
          '3',
          '--minimum',
          '2',
          '--deadline',
          'soon',
        ])
      ).code,
    ).toBe(ExitCode.USAGE);
    expect((await h.p2(['roll', 'pause', rc2])).code).toBe(ExitCode.NOT_FOUND);
  });

  it('--gate stores a metric gate on the update; a gate that does not parse is a usage error', async () => {
    const start = ['roll', 'start', '--old', rc1, '--new', rc2, '-d', '3', '--minimum', '2'];
    const bad = await h.p2([...start, '--gate', 'errors_total / < 0.05']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.err).toContain(
      'error: --gate: metric gate "errors_total / < 0.05": expected a metric name at column 16',
    );
    expect(bad.err).toContain('hint: write e.g.');
    expect((await h.p2([...start, '--gate', 'e_total < 1', '--gate-path', 'metrics'])).code).toBe(
      ExitCode.USAGE,
    );
    const r = await h.p2([
      ...start,
      '--gate',
      'errors_total{code="500"} / requests_total < 0.05',
      '--soak',
      '2m',
      '--force',
      '--json',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    const gate = {
      path: '/metrics',
      expr: 'errors_total{code="500"} / requests_total < 0.05',
      soakMs: 120_000,
    };
    expect(JSON.parse(r.out).metricGate).toEqual(gate);
    const stored = JSON.parse(
      new TextDecoder().decode((await h.store.get(`rolls/${rc2}`)).value?.value),
    );
    expect(stored.MetricGate).toEqual({ Path: '/metrics', Expr: gate.expr, Soak: 120e9 });
    await h.p2(['roll', 'cancel', rc2]);
  });
});
