import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('kv');
});
afterAll(async () => {
  await h?.close();
});

describe('p2 kv', () => {
  it('puts and gets a value as stored', async () => {
    expect((await h.p2(['kv', 'put', 'debug/a', 'hello world'])).out).toBe(
      'wrote debug/a (11 bytes)\n',
    );
    const r = await h.p2(['kv', 'get', 'debug/a']);
    expect(r).toMatchObject({ code: ExitCode.OK, out: 'hello world' });
    const json = JSON.parse((await h.p2(['kv', 'get', 'debug/a', '--json'])).out);
    expect(json).toMatchObject({ key: 'debug/a', value: 'hello world', flags: 0 });
    expect(json.modifyIndex).toBeGreaterThan(0);
  });

  it('puts a file byte for byte and shows non-UTF-8 values as base64 in JSON', async () => {
    await writeFile(join(h.dir, 'bin'), Buffer.from([0xff, 0x00, 0x41]));
    expect((await h.p2(['kv', 'put', 'debug/bin', '--file', 'bin'])).code).toBe(ExitCode.OK);
    expect(Buffer.from((await h.store.get('debug/bin')).value?.value ?? []).toString('hex')).toBe(
      'ff0041',
    );
    expect(JSON.parse((await h.p2(['kv', 'get', 'debug/bin', '--json'])).out).valueBase64).toBe(
      '/wBB',
    );
  });

  it('check-and-set: --cas 0 creates only', async () => {
    const r = await h.p2(['kv', 'put', 'debug/a', 'other', '--cas', '0', '--json']);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(JSON.parse(r.out).written).toBe(false);
    expect((await h.p2(['kv', 'put', 'debug/new', 'x', '--cas', '0'])).code).toBe(ExitCode.OK);
    expect((await h.p2(['kv', 'put', 'debug/new', 'x', '--cas', 'abc'])).code).toBe(ExitCode.USAGE);
  });

  it('lists one level by default, everything with -r', async () => {
    await h.store.put('debug/dir/x', '1');
    expect(JSON.parse((await h.p2(['kv', 'ls', 'debug/', '--json'])).out)).toEqual([
      'debug/a',
      'debug/bin',
      'debug/dir/',
      'debug/new',
    ]);
    expect((await h.p2(['kv', 'ls', 'debug/', '--recursive'])).out).toContain('debug/dir/x\n');
  });

  it('removes a key, a tree, and exits 4 for a missing key', async () => {
    expect((await h.p2(['kv', 'rm', 'debug/a'])).out).toBe('deleted debug/a\n');
    expect((await h.p2(['kv', 'get', 'debug/a'])).code).toBe(ExitCode.NOT_FOUND);
    expect((await h.p2(['kv', 'rm', 'debug/a'])).code).toBe(ExitCode.NOT_FOUND);
    const r = await h.p2(['kv', 'rm', 'debug/', '--recursive', '--json']);
    expect(JSON.parse(r.out).deleted).toEqual(['debug/bin', 'debug/dir/x', 'debug/new']);
    expect((await h.store.keys('debug/')).value).toEqual([]);
  });

  it('refuses invalid input: both value and --file, an invalid key', async () => {
    expect((await h.p2(['kv', 'put', 'k', 'v', '--file', 'bin'])).code).toBe(ExitCode.USAGE);
    const bad = await h.p2(['kv', 'put', '/leading', 'v']);
    expect(bad.code).toBe(ExitCode.INVALID_INPUT);
    expect(bad.err).toContain('P2_KV_INVALID_KEY');
  });
});
