/**
 * The controller-liveness warning of `p2 rc|ds|roll`. A farm claims a record by acquiring
 * `lock/<kind>/<id>` with its session; this test takes the same lock with a real store session.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../test-support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('liveness');
  await writeFile(join(h.dir, 'v1.yaml'), 'id: p2t-live\nconfig:\n  v: 1\n');
  await writeFile(join(h.dir, 'v2.yaml'), 'id: p2t-live\nconfig:\n  v: 2\n');
});
afterAll(async () => {
  await h?.close();
});

describe('controller liveness', () => {
  it('rc create and get warn when no farm holds a lock, and say so in --json', async () => {
    const created = await h.p2([
      'rc',
      'create',
      '-m',
      'v1.yaml',
      '-n',
      'role=live',
      '-r',
      '1',
      '--json',
    ]);
    expect(created.code).toBe(ExitCode.OK);
    expect(created.err).toContain('warning: no RC farm is running');
    const id = JSON.parse(created.out).id as string;
    expect(JSON.parse(created.out).controller).toMatchObject({
      claimed: false,
      farmRunning: false,
    });
    const got = await h.p2(['rc', 'get', id]);
    expect(got.err).toContain(`nothing will act on ${id}`);
  });

  it('is quiet once a farm holds the record lock; warns about an unclaimed record while a farm runs', async () => {
    const a = JSON.parse(
      (await h.p2(['rc', 'create', '-m', 'v1.yaml', '-n', 'role=a', '--json'])).out,
    ).id as string;
    const b = JSON.parse(
      (await h.p2(['rc', 'create', '-m', 'v2.yaml', '-n', 'role=b', '--disabled', '--json'])).out,
    ).id as string;
    const session = await h.store.createSession({ name: 'p2t-rc-farm', ttlMs: 60_000 });
    try {
      expect(await h.store.acquire(`lock/replication_controllers/${a}`, '', session)).toBe(true);
      const got = await h.p2(['rc', 'get', a, '--json']);
      expect(got.err).toBe('');
      expect(JSON.parse(got.out).controller).toEqual({ claimed: true, farmRunning: true });
      const other = await h.p2(['rc', 'get', b]);
      expect(other.err).toContain(`warning: no RC farm has claimed ${b}`);
      const created = await h.p2(['rc', 'create', '-m', 'v1.yaml', '-n', 'role=c']);
      expect(created.err).toBe('');
      // A roll farm is a different farm: no roll lock is held.
      const roll = await h.p2([
        'roll',
        'start',
        '--old',
        a,
        '--new',
        b,
        '-d',
        '1',
        '--minimum',
        '0',
        '--json',
      ]);
      expect(roll.err).toContain('warning: no roll farm is running');
      expect(JSON.parse(roll.out).controller.farmRunning).toBe(false);
      expect((await h.p2(['roll', 'status', b, '--json'])).err).toContain(
        'no roll farm is running',
      );
    } finally {
      await h.store.destroySession(session);
    }
  });

  it('ds create says it too', async () => {
    const r = await h.p2([
      'ds',
      'create',
      '-m',
      'v1.yaml',
      '--everywhere',
      '--cluster-name',
      'c1',
      '--json',
    ]);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.err).toContain('warning: no daemon set farm is running');
    expect(JSON.parse(r.out).controller.claimed).toBe(false);
  });
});
