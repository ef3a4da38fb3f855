import {
  chmodSync,
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
import { hookExecutorName, installHookExecutors } from './install.js';
import { runHooks } from './run.js';

let dir = '';
let hooksDir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2t-hookinstall-'));
  hooksDir = join(dir, 'p2hooks.d');
  mkdirSync(hooksDir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const script = (body: string) => `#!/bin/sh\n${body}\n`;

describe('installHookExecutors', () => {
  it("writes P2's executor scripts, root's 0744, and replaces a hook pod's old ones after", async () => {
    writeFileSync(join(hooksDir, 'p2t-users__old__launch'), '#!/bin/sh\n');
    writeFileSync(join(hooksDir, 'other__keep__launch'), '#!/bin/sh\n');
    const report = await installHookExecutors(hooksDir, 'p2t-users', [
      { launchableId: 'create', entryName: 'launch', script: script('exec /bin/true') },
    ]);
    expect(report).toEqual({
      executors: ['p2t-users__create__launch'],
      written: ['p2t-users__create__launch'],
      removed: ['p2t-users__old__launch'],
    });
    expect(readdirSync(hooksDir).sort()).toEqual([
      'other__keep__launch',
      'p2t-users__create__launch',
    ]);
    const path = join(hooksDir, 'p2t-users__create__launch');
    expect(readFileSync(path, 'utf8')).toBe('#!/bin/sh\nexec /bin/true\n');
    expect(statSync(path).mode & 0o777).toBe(0o744);
    expect(statSync(path).uid).toBe(process.getuid?.());
  });

  it('leaves identical executors alone and rewrites changed or tampered ones', async () => {
    const executors = [
      { launchableId: 'a', entryName: 'launch', script: script('exec /bin/true') },
      { launchableId: 'b', entryName: 'launch', script: script('exec /bin/false') },
    ];
    await installHookExecutors(hooksDir, 'p2t-users', executors);
    const again = await installHookExecutors(hooksDir, 'p2t-users', executors);
    expect(again).toMatchObject({ written: [], removed: [] });
    chmodSync(join(hooksDir, 'p2t-users__a__launch'), 0o777);
    writeFileSync(join(hooksDir, 'p2t-users__b__launch'), '#!/bin/sh\nexec evil\n');
    const repaired = await installHookExecutors(hooksDir, 'p2t-users', executors);
    expect(repaired.written).toEqual(['p2t-users__a__launch', 'p2t-users__b__launch']);
    expect(statSync(join(hooksDir, 'p2t-users__a__launch')).mode & 0o777).toBe(0o744);
    expect(readFileSync(join(hooksDir, 'p2t-users__b__launch'), 'utf8')).toBe(
      script('exec /bin/false'),
    );
  });

  it("with no executors, removes the hook pod's (and only its) executors", async () => {
    writeFileSync(join(hooksDir, 'p2t-users__a__launch'), '#!/bin/sh\n');
    writeFileSync(join(hooksDir, 'p2t-usersx__a__launch'), '#!/bin/sh\n');
    mkdirSync(join(hooksDir, 'p2t-users__dir'));
    const report = await installHookExecutors(hooksDir, 'p2t-users', []);
    expect(report.removed).toEqual(['p2t-users__a__launch']);
    expect(readdirSync(hooksDir).sort()).toEqual(['p2t-users__dir', 'p2t-usersx__a__launch']);
  });

  it('makes a missing hooks directory and refuses one others may write', async () => {
    const fresh = join(dir, 'new', 'p2hooks.d');
    await installHookExecutors(fresh, 'p2t-users', []);
    expect(statSync(fresh).mode & 0o777).toBe(0o755);
    chmodSync(hooksDir, 0o777);
    await expect(installHookExecutors(hooksDir, 'p2t-users', [])).rejects.toMatchObject({
      code: 'P2_HOOKS_IO',
      message: expect.stringMatching(/writable/),
    });
  });

  it('the scripts run as hooks, with the hook variables', async () => {
    await installHookExecutors(hooksDir, 'p2t-users', [
      {
        launchableId: 'create',
        entryName: 'launch',
        script: script(`exec /bin/sh -c 'echo "$0|$HOOK_EVENT|$HOOKED_POD_ID"' "a b"`),
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
      output: 'a b|before_install|p2t-pod\n',
    });
  });

  it('refuses names that would collide or escape, and files that are not scripts', async () => {
    await expect(installHookExecutors(hooksDir, 'a/b', [])).rejects.toMatchObject({
      code: 'P2_HOOKS_INVALID_OPTIONS',
    });
    await expect(
      installHookExecutors(hooksDir, 'p2t-x', [
        { launchableId: '../up', entryName: 'launch', script: script('true') },
      ]),
    ).rejects.toThrowError(/contains "\/"/);
    await expect(
      installHookExecutors(hooksDir, 'p2t-x', [
        { launchableId: 'l', entryName: 'e', script: script('true') },
        { launchableId: 'l', entryName: 'e', script: script('false') },
      ]),
    ).rejects.toThrowError(/both be named p2t-x__l__e/);
    await expect(
      installHookExecutors(hooksDir, 'p2t-x', [
        { launchableId: 'l', entryName: 'e', script: 'exec true' },
      ]),
    ).rejects.toThrowError(/not a script/);
  });
});
