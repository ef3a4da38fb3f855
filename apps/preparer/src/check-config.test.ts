/** `p2-preparer --check-config FILE`: every key's fate, and whether the preparer would start. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../../vitest.shared.js';

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-check-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function check(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', cli, '--check-config', ...args],
      { cwd: repoRoot },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('p2-preparer --check-config', () => {
  it("lists what p2 does with every key of P2's own sample config, which is valid", async () => {
    const { code, stdout } = await check(join(fixturesDir, 'config/preparer-config.yaml'));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^KEY +FROM +WHAT p2 DOES$/m);
    expect(stdout).toMatch(/^node_name +P2 +implemented$/m);
    for (const key of ['log_exec', 'finish_exec', 'extra_log_destinations'])
      expect(stdout).toMatch(new RegExp(`^${key} +P2 +implemented$`, 'm'));
    expect(stdout).not.toMatch(/ignored/);
    expect(stdout).toMatch(/valid; the preparer starts with it/);
  });

  it('refuses an extra log destination type p2 cannot send to, with the reason', async () => {
    const file = join(dir, 'syslog.yaml');
    await writeFile(
      file,
      'preparer:\n  auth: {type: none}\n  extra_log_destinations:\n  - {type: syslog, path: /dev/log}\n',
    );
    const { code, stderr } = await check(file);
    expect(code).toBe(1);
    expect(stderr).toContain(
      'preparer.extra_log_destinations[0].type: expected socket (a unix socket: the only destination type P2 had), found "syslog"',
    );
  });

  it('names an unknown key with what it most likely meant, exits 1, and says so in JSON', async () => {
    const file = join(dir, 'typo.yaml');
    await writeFile(file, 'preparer:\n  auth: {type: none}\n  nodename: h1\n  http2: true\n');
    const human = await check(file);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^nodename +- +unknown \(did you mean node_name\?\)$/m);
    expect(human.stdout).toMatch(/^http2 +P2 +ignored: p2 speaks HTTP\/1\.1 to the store$/m);
    expect(human.stderr).toContain(
      'unknown key preparer.nodename (did you mean preparer.node_name?)',
    );

    const json = await check(file, '--json');
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.valid).toBe(false);
    expect(report.error.code).toBe('P2_PREPARER_CONFIG_INVALID');
    expect(report.keys).toContainEqual({
      key: 'nodename',
      status: 'unknown',
      didYouMean: 'node_name',
    });
  });
});
