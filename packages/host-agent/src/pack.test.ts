import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packBundle } from './pack.js';

const run = promisify(execFile);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-bootstrap-pack-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('packBundle', () => {
  it('packs bin/launch and lib/<name>.mjs into <name>_<40 hex>.tar.gz, named by content', async () => {
    const bundle = join(dir, 'app.js');
    await writeFile(bundle, 'console.log("v1")\n');
    const launch = '#!/bin/sh\nexec node "$(dirname "$0")/../lib/app.mjs"\n';
    const first = await packBundle({ name: 'app', bundle, launch, outDir: join(dir, 'out') });
    expect(first.path).toMatch(/\/app_[0-9a-f]{40}\.tar\.gz$/);
    expect(first.location).toBe(`file://${first.path}`);
    const { stdout } = await run('tar', ['-tvzf', first.path]);
    // Every directory enterable by the pod's user (the install is root-owned; the pod is not root).
    expect(stdout).toMatch(/^drwxr-xr-x .* \.\/$/m);
    expect(stdout).toMatch(/^drwxr-xr-x .* \.\/bin\/$/m);
    expect(stdout).toMatch(/-rwxr-xr-x .* \.\/bin\/launch/);
    expect(stdout).toMatch(/-rw-r--r-- .* \.\/lib\/app\.mjs/);

    // Same content: same artifact, not rewritten.
    const before = (await stat(first.path)).mtimeMs;
    const again = await packBundle({ name: 'app', bundle, launch, outDir: join(dir, 'out') });
    expect(again.path).toBe(first.path);
    expect((await stat(first.path)).mtimeMs).toBe(before);

    // New content: a new version.
    await writeFile(bundle, 'console.log("v2")\n');
    const next = await packBundle({ name: 'app', bundle, launch, outDir: join(dir, 'out') });
    expect(next.version).not.toBe(first.version);
  });
});
