import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, type Io } from '@p2/cli-kit';
import { extractArchive, versionFromLocation } from '@p2/hoist';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';

let dir = '';
const SCRIPT = '#!/bin/sh\nexec echo hello\n';

async function p2(args: string[]) {
  const io: Io & { out: string; err: string } = {
    out: '',
    err: '',
    isTTY: false,
    stdout: (t) => {
      io.out += t;
    },
    stderr: (t) => {
      io.err += t;
    },
  };
  const code = await runCli(args, { io, cwd: dir, env: {} });
  return { code, out: io.out, err: io.err };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-bin2pod-'));
  await writeFile(join(dir, 'greeter.sh'), SCRIPT, { mode: 0o644 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('p2 bin2pod', () => {
  it('builds <id>_<sha1>.tar.gz with an executable bin/launch, and a valid manifest', async () => {
    const r = await p2([
      'bin2pod',
      'greeter.sh',
      '--id',
      'p2t-greeter',
      '--port',
      '9123',
      '--config',
      'greeting=hi',
      '--work-dir',
      'out',
      '--json',
    ]);
    expect(r.code).toBe(ExitCode.OK);
    const res = JSON.parse(r.out);
    const sha1 = createHash('sha1').update(SCRIPT).digest('hex');
    expect(res.tar_path).toBe(join(dir, 'out', `p2t-greeter_${sha1}.tar.gz`));
    expect(res.manifest_path).toBe(join(dir, 'out', 'p2t-greeter.yaml'));
    expect(res.final_location).toBe(`file://${res.tar_path}`);

    const extracted = join(dir, 'x');
    await extractArchive(res.tar_path, extracted);
    expect(await readFile(join(extracted, 'bin', 'launch'), 'utf8')).toBe(SCRIPT);
    expect((await stat(join(extracted, 'bin', 'launch'))).mode & 0o777).toBe(0o755);

    const manifest = parseManifest(await readFile(res.manifest_path));
    expect(manifest.id).toBe('p2t-greeter');
    expect(manifest.launchables['p2t-greeter']?.location).toBe(res.final_location);
    expect(versionFromLocation(res.final_location)).toBe(sha1);
    expect(manifest.config).toEqual({ greeting: 'hi', port: 9123 });
    expect(manifest.statusCheck()).toMatchObject({ port: 9123, scheme: 'http' });
    expect((await p2(['manifest', 'check', res.manifest_path])).code).toBe(ExitCode.OK);
  });

  it('defaults the id to the executable name and fills {} in --location', async () => {
    const r = await p2(['bin2pod', 'greeter.sh', '--location', 'https://artifacts.example.com/{}']);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.out).toMatch(/^artifact .*\/greeter_[0-9a-f]{40}\.tar\.gz$/m);
    expect(r.out).toMatch(
      /^location https:\/\/artifacts\.example\.com\/greeter_[0-9a-f]{40}\.tar\.gz$/m,
    );
  });

  it('explains bad input', async () => {
    expect((await p2(['bin2pod', 'missing'])).code).toBe(ExitCode.NOT_FOUND);
    expect((await p2(['bin2pod', 'greeter.sh', '--port', '99999'])).code).toBe(ExitCode.USAGE);
    const badId = await p2(['bin2pod', 'greeter.sh', '--id', 'a/b']);
    expect(badId.code).toBe(ExitCode.INVALID_INPUT);
    expect(badId.err).toContain('error');
  });
});
