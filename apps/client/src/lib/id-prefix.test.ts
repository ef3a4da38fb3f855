/** Ids by unique prefix through `p2 rc|roll|ds|pc` (real store behind the harness). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../test-support.js';

let h: Harness;
let rc1: string;
let rc2: string;
beforeAll(async () => {
  h = await startHarness('id-prefix');
  await writeFile(join(h.dir, 'v1.yaml'), 'id: p2t-prefix\nconfig:\n  v: 1\n');
  await writeFile(join(h.dir, 'v2.yaml'), 'id: p2t-prefix\nconfig:\n  v: 2\n');
  const create = async (file: string) =>
    JSON.parse((await h.p2(['rc', 'create', '-m', file, '-n', 'role=px', '--json'])).out)
      .id as string;
  rc1 = await create('v1.yaml');
  rc2 = await create('v2.yaml');
});
afterAll(async () => {
  await h?.close();
});

/** The shortest prefix of `id` that no other id shares. */
const unique = (id: string, other: string) => {
  let n = 1;
  while (other.startsWith(id.slice(0, n))) n++;
  return id.slice(0, Math.max(n, 4));
};

describe('ids by unique prefix', () => {
  it('p2 rc get takes a unique prefix', async () => {
    const r = await h.p2(['rc', 'get', unique(rc1, rc2), '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.out).id).toBe(rc1);
  });

  it('p2 roll start takes prefixes for -o and --new, and roll status/cancel for the update id', async () => {
    const start = await h.p2([
      'roll',
      'start',
      '--old',
      unique(rc1, rc2),
      '--new',
      unique(rc2, rc1),
      '-d',
      '0',
      '--minimum',
      '0',
      '--json',
    ]);
    expect(start.code).toBe(ExitCode.OK);
    expect(JSON.parse(start.out)).toMatchObject({ oldRc: rc1, newRc: rc2 });
    const status = await h.p2(['roll', 'status', rc2.slice(0, 6), '--json']);
    expect(JSON.parse(status.out).id).toBe(rc2);
    expect((await h.p2(['roll', 'cancel', rc2.slice(0, 6)])).out).toBe(`${rc2}: cancelled\n`);
  });

  it('an ambiguous prefix lists the candidates (exit 3); none is not found as before', async () => {
    await h.store.put('replication_controllers/p2tab1', '{}');
    await h.store.put('replication_controllers/p2tab2', '{}');
    const r = await h.p2(['rc', 'get', 'p2tab']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('p2tab1, p2tab2');
    const json = await h.p2(['rc', 'enable', 'p2tab', '--json']);
    expect(json.code).toBe(ExitCode.INVALID_INPUT);
    expect(JSON.parse(json.out || json.err).error.code).toBe('P2_KV_INVALID_KEY');
    expect((await h.p2(['rc', 'get', 'zzzz'])).code).toBe(ExitCode.NOT_FOUND);
    expect((await h.p2(['ds', 'get', 'zzzz'])).code).toBe(ExitCode.NOT_FOUND);
  });
});
