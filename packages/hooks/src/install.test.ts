import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@p2/manifest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hookExecutorName, installHookExecutors, shellQuote } from './install.js';
import { runHooks } from './run.js';

let dir = '';
let hooksDir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2t-hookinstall-'));
  hooksDir = join(dir, 'p2hooks.d');
  mkdirSync(hooksDir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('installHookExecutors', () => {
  it("writes P2's executor scripts, 0744, and replaces a hook pod's old ones", async () => {
    writeFileSync(join(hooksDir, 'p2t-users__old__launch'), '#!/bin/sh\n');
    writeFileSync(join(hooksDir, 'other__keep__launch'), '#!/bin/sh\n');
    const written = await installHookExecutors(hooksDir, 'p2t-users', [
      { launchableId: 'create', entryName: 'launch', command: ['/bin/echo', 'made user', "it's"] },
    ]);
    expect(written).toEqual(['p2t-users__create__launch']);
    expect(readdirSync(hooksDir).sort()).toEqual([
      'other__keep__launch',
      'p2t-users__create__launch',
    ]);
    const path = join(hooksDir, 'p2t-users__create__launch');
    expect(readFileSync(path, 'utf8')).toBe(`#!/bin/sh\nexec /bin/echo 'made user' 'it'\\''s'\n`);
    expect(statSync(path).mode & 0o777).toBe(0o744);
  });

  it('the scripts run as hooks, with arguments intact', async () => {
    await installHookExecutors(hooksDir, 'p2t-users', [
      {
        launchableId: 'create',
        entryName: 'launch',
        command: ['/bin/sh', '-c', 'echo "$0|$1|$HOOK_EVENT"', 'a b', "c'd"],
      },
    ]);
    const summary = await runHooks({
      event: 'before_install',
      hooksDirectory: hooksDir,
      node: 'n',
      pod: { manifest: parseManifest('id: p2t-pod\n'), home: join(dir, 'pod') },
      required: [hookExecutorName('p2t-users', 'create', 'launch')],
    });
    expect(summary.records[0]).toMatchObject({
      success: true,
      required: true,
      output: "a b|c'd|before_install\n",
    });
  });

  it('refuses names that would collide or escape', async () => {
    await expect(installHookExecutors(hooksDir, 'a/b', [])).rejects.toMatchObject({
      code: 'P2_HOOKS_INVALID_OPTIONS',
    });
    await expect(
      installHookExecutors(hooksDir, 'p2t-x', [
        { launchableId: '../up', entryName: 'launch', command: ['true'] },
      ]),
    ).rejects.toThrowError(/contains "\/"/);
    await expect(
      installHookExecutors(hooksDir, 'p2t-x', [
        { launchableId: 'l', entryName: 'e', command: ['true'] },
        { launchableId: 'l', entryName: 'e', command: ['false'] },
      ]),
    ).rejects.toThrowError(/both be named p2t-x__l__e/);
  });

  it('quotes only what needs it', () => {
    expect(shellQuote('/usr/local/bin/p2-exec')).toBe('/usr/local/bin/p2-exec');
    expect(shellQuote('--extra-env=ENTRY_POINT=bin/launch')).toBe(
      '--extra-env=ENTRY_POINT=bin/launch',
    );
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('$HOME')).toBe("'$HOME'");
  });
});
