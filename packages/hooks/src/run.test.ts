import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@p2/manifest';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { discoverHooks } from './discover.js';
import { readHookEnv } from './env.js';
import { type HookAuditRecord, runHooks } from './run.js';

const manifest = parseManifest(
  'id: p2t-hooked\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/app_abc.tar.gz\nconfig:\n  color: blue\n',
);

let dir = '';
let hooksDir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2t-hooks-'));
  hooksDir = join(dir, 'p2hooks.d');
  mkdirSync(hooksDir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function hook(name: string, body: string, mode = 0o755): string {
  const path = join(hooksDir, name);
  writeFileSync(path, body);
  chmodSync(path, mode);
  return path;
}

function base(extra: Partial<Parameters<typeof runHooks>[0]> = {}) {
  const audit: HookAuditRecord[] = [];
  return {
    audit,
    options: {
      event: 'after_install' as const,
      hooksDirectory: hooksDir,
      node: 'p2t-node',
      podRoot: join(dir, 'pods'),
      pod: { manifest, home: join(dir, 'pods', 'p2t-hooked') },
      audit: (r: HookAuditRecord) => void audit.push(r),
      ...extra,
    },
  };
}

/** True when the pid no longer runs (gone, or a zombie waiting for a reaper that is not us). */
function isDead(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

describe('runHooks', () => {
  it("runs every hook in name order with exactly P2's variables plus PATH", async () => {
    hook('b_second', `#!/bin/sh\nenv > "${dir}/env-b"\necho second\n`);
    hook('a_first', `#!/bin/bash\necho "first $HOOK_EVENT" ; echo oops >&2\n`);
    const { audit, options } = base();
    const summary = await runHooks(options);
    expect(summary.records.map((r) => [r.hook, r.success, r.exitCode])).toEqual([
      ['a_first', true, 0],
      ['b_second', true, 0],
    ]);
    expect(audit).toEqual(summary.records);
    expect(summary.records[0]?.output).toBe('first after_install\noops\n');
    const env = Object.fromEntries(
      readFileSync(join(dir, 'env-b'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    delete env.PWD; // set by the shell itself
    delete env.SHLVL;
    delete env._;
    const home = join(dir, 'pods', 'p2t-hooked');
    expect(env).toEqual({
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOOK: 'p2hooks.d',
      HOOK_EVENT: 'after_install',
      HOOKED_NODE: 'p2t-node',
      HOOKED_POD_ID: 'p2t-hooked',
      HOOKED_POD_HOME: home,
      HOOKED_POD_MANIFEST: expect.stringMatching(
        /\/p2t-hooked-manifest-[^/]+\/p2t-hooked-manifest\.yaml$/,
      ),
      HOOKED_CONFIG_PATH: join(home, 'config', `p2t-hooked_${manifest.sha()}.yaml`),
      HOOKED_ENV_PATH: join(home, 'env'),
      HOOKED_CONFIG_DIR_PATH: join(home, 'config'),
      HOOKED_SYSTEM_POD_ROOT: join(dir, 'pods'),
      HOOKED_POD_UNIQUE_KEY: '',
      HOOKED_POD_READ_ONLY: 'false',
    });
    // The manifest copy is gone after the run.
    expect(existsSync(env.HOOKED_POD_MANIFEST!)).toBe(false);
  });

  it('logs and continues past a failing optional hook; audits a non-executable one', async () => {
    hook('a_fails', '#!/bin/sh\necho "cannot reach vault" >&2\nexit 3\n');
    hook('b_not_executable', '#!/bin/sh\nexit 0\n', 0o644);
    hook('c_ok', '#!/bin/sh\nexit 0\n');
    mkdirSync(join(hooksDir, 'd_subdir'));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const { audit, options } = base({ logger });
    const summary = await runHooks(options);
    expect(summary.records.map((r) => [r.hook, r.success, r.exitCode, r.error])).toEqual([
      ['a_fails', false, 3, 'exited with status 3'],
      ['b_not_executable', false, null, expect.stringContaining('is not executable')],
      ['c_ok', true, 0, undefined],
    ]);
    expect(audit).toHaveLength(3);
    const failed = JSON.parse(lines.find((l) => l.includes('a_fails'))!);
    expect(failed).toMatchObject({
      level: 50,
      hook: 'a_fails',
      exitCode: 3,
      output: 'cannot reach vault\n',
    });
  });

  it('never runs a hook another user could change: writable by others, or linked into their directory', async () => {
    hook('a_world_writable', `#!/bin/sh\ntouch "${dir}/ran-a"\n`, 0o777);
    const podDir = join(dir, 'pod-writable');
    mkdirSync(podDir);
    chmodSync(podDir, 0o777);
    writeFileSync(join(podDir, 'script'), `#!/bin/sh\ntouch "${dir}/ran-b"\n`, { mode: 0o755 });
    symlinkSync(join(podDir, 'script'), join(hooksDir, 'b_linked_to_pod_dir'));
    hook('c_ok', '#!/bin/sh\nexit 0\n');
    const { options } = base();
    const summary = await runHooks(options);
    expect(summary.records.map((r) => [r.hook, r.success])).toEqual([
      ['a_world_writable', false],
      ['b_linked_to_pod_dir', false],
      ['c_ok', true],
    ]);
    expect(summary.records[0]?.error).toMatch(/writable by group or others/);
    expect(summary.records[1]?.error).toContain(`${podDir} is writable by group or others`);
    expect(existsSync(join(dir, 'ran-a')) || existsSync(join(dir, 'ran-b'))).toBe(false);
  });

  it('stops at a failing required hook with a coded error', async () => {
    hook('a_required', '#!/bin/sh\nexit 1\n');
    hook('b_never_runs', `#!/bin/sh\ntouch "${dir}/ran"\n`);
    const { audit, options } = base({ required: ['a_required'] });
    await expect(runHooks(options)).rejects.toMatchObject({
      code: 'P2_HOOKS_REQUIRED_HOOK_FAILED',
      message: expect.stringContaining(
        'required hook a_required failed during after_install of p2t-hooked: exited with status 1',
      ),
    });
    expect(audit.map((r) => [r.hook, r.required, r.success])).toEqual([
      ['a_required', true, false],
    ]);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  it('kills a hook that hangs past its timeout, children included', async () => {
    const pidFile = join(dir, 'child.pid');
    hook('hangs', `#!/bin/bash\nsleep 300 &\necho $! > "${pidFile}"\necho started\nwait\n`);
    const { audit, options } = base({ timeoutMs: 300, killGraceMs: 1000 });
    const summary = await runHooks(options);
    const record = summary.records[0]!;
    expect(record).toMatchObject({
      hook: 'hangs',
      timedOut: true,
      success: false,
      signal: 'SIGTERM',
      output: 'started\n',
    });
    expect(record.error).toMatch(/^timed out after 300 ms; killed its process group/);
    expect(record.durationMs).toBeGreaterThanOrEqual(300);
    const childPid = Number(readFileSync(pidFile, 'utf8'));
    expect(childPid).toBeGreaterThan(0);
    expect(isDead(childPid)).toBe(true);
    expect(audit).toHaveLength(1);
  });

  it('follows SIGTERM with SIGKILL for a hook that ignores it', async () => {
    const pidFile = join(dir, 'stubborn.pid');
    hook(
      'stubborn',
      `#!/bin/bash\ntrap '' TERM\n(trap '' TERM; sleep 300) &\necho $! > "${pidFile}"\nwhile :; do sleep 0.05; done\n`,
    );
    const { options } = base({ timeoutMs: 200, killGraceMs: 300 });
    const summary = await runHooks(options);
    expect(summary.records[0]).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: null });
    expect(isDead(Number(readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('a required hook that times out stops the deploy (P2 let it pass)', async () => {
    hook('slow_required', '#!/bin/sh\nexec sleep 30\n');
    const { options } = base({ timeoutMs: 100, killGraceMs: 100, required: ['slow_required'] });
    await expect(runHooks(options)).rejects.toMatchObject({
      code: 'P2_HOOKS_REQUIRED_HOOK_FAILED',
    });
  });

  it('caps captured output without blocking a chatty hook', async () => {
    // 4 MiB: far more than a pipe buffer; the hook would hang if the output were not drained.
    hook('chatty', '#!/bin/bash\nhead -c 4194304 /dev/zero | tr "\\0" x\necho\necho done >&2\n');
    const { options } = base({ outputLimitBytes: 1000, timeoutMs: 20_000 });
    const [record] = (await runHooks(options)).records;
    expect(record).toMatchObject({ success: true, exitCode: 0 });
    expect(record!.output).toBe('x'.repeat(1000));
    expect(record!.outputDroppedBytes).toBe(4194304 + 1 + 5 - 1000);
  });

  it('does not wait for a background child that keeps the pipes open', async () => {
    const pidFile = join(dir, 'bg.pid');
    hook('daemonizes', `#!/bin/bash\nsleep 5 &\necho $! > "${pidFile}"\nexit 0\n`);
    const { options } = base();
    const started = Date.now();
    const [record] = (await runHooks(options)).records;
    expect(record?.success).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  });

  it('reports a hook that cannot start', async () => {
    hook('bad_interpreter', '#!/nonexistent/interpreter\n');
    const [record] = (await runHooks(base().options)).records;
    expect(record).toMatchObject({ success: false, exitCode: null });
    expect(record!.error).toMatch(/^cannot start .*bad_interpreter: .*ENOENT/);
  });

  it('passes the unique key and read-only flag, and survives a throwing audit sink', async () => {
    hook('dump', `#!/bin/sh\necho "$HOOKED_POD_UNIQUE_KEY $HOOKED_POD_READ_ONLY $HOOKED_POD_ID"\n`);
    const lines: string[] = [];
    const { options } = base({
      pod: {
        manifest,
        home: '/data/pods/x',
        id: 'p2t-uuid-pod',
        uniqueKey: 'p2t-key',
        readOnly: true,
      },
      audit: () => {
        throw new Error('sqlite locked');
      },
      logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
    });
    const [record] = (await runHooks(options)).records;
    expect(record).toMatchObject({
      success: true,
      podId: 'p2t-uuid-pod',
      podUniqueKey: 'p2t-key',
      output: 'p2t-key true p2t-uuid-pod\n',
    });
    expect(
      lines.some((l) => l.includes('hook audit sink failed') && l.includes('sqlite locked')),
    ).toBe(true);
  });

  it("keeps the manifest copy root's, readable by the hook pod's group when asked", async () => {
    const show = 'stat -c "%u:%g %a" "$(dirname "$HOOKED_POD_MANIFEST")" "$HOOKED_POD_MANIFEST"';
    hook('show', `#!/bin/sh\n${show}\n`);
    const [shared] = (await runHooks(base({ manifestGroup: 4242 }).options)).records;
    expect(shared?.output).toBe('0:4242 750\n0:4242 640\n');
    const [own] = (await runHooks(base().options)).records;
    expect(own?.output).toBe('0:0 700\n0:0 600\n');
  });

  it('cancels a running hook and its group on abort, and runs no further hooks', async () => {
    hook('a_waits', '#!/bin/sh\nexec sleep 30\n');
    hook('b_after', `#!/bin/sh\ntouch "${dir}/ran"\n`);
    const controller = new AbortController();
    const { options } = base({ signal: controller.signal, killGraceMs: 200 });
    setTimeout(() => controller.abort(), 100);
    const summary = await runHooks(options);
    expect(summary.records).toHaveLength(1);
    expect(summary.records[0]).toMatchObject({
      success: false,
      error: 'cancelled',
      signal: 'SIGTERM',
    });
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  it('does nothing when the hooks directory is missing', async () => {
    const { audit, options } = base({ hooksDirectory: join(dir, 'nope') });
    expect((await runHooks(options)).records).toEqual([]);
    expect(audit).toEqual([]);
  });

  it('a Node hook reads the typed environment and parsed manifest', async () => {
    const out = join(dir, 'node-hook.json');
    const src = new URL('./index.ts', import.meta.url).pathname;
    const script = join(dir, 'hook.mts');
    writeFileSync(
      script,
      `import { writeFileSync } from 'node:fs';
import { defineHook } from ${JSON.stringify(src)};
await defineHook({
  after_install: (env) => {
    writeFileSync(${JSON.stringify(out)}, JSON.stringify({ ...env, manifest: undefined, id: env.manifest.id, color: env.manifest.config.color, sha: env.manifest.sha() }));
  },
});
`,
    );
    const tsx = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).pathname;
    hook('node_hook', `#!/bin/sh\nexec node --import ${tsx} ${script}\n`);
    const root = new URL('../../../tsconfig.json', import.meta.url).pathname;
    const { options } = base({
      path: `${process.env.PATH}`,
      extraEnv: { TSX_TSCONFIG_PATH: root },
      timeoutMs: 20_000,
    });
    const [record] = (await runHooks(options)).records;
    expect(record, record?.output).toMatchObject({ success: true });
    const seen = JSON.parse(readFileSync(out, 'utf8'));
    expect(seen).toMatchObject({
      hook: 'p2hooks.d',
      event: 'after_install',
      node: 'p2t-node',
      podId: 'p2t-hooked',
      id: 'p2t-hooked',
      color: 'blue',
      sha: manifest.sha(),
      readOnly: false,
      configPath: join(dir, 'pods', 'p2t-hooked', 'config', `p2t-hooked_${manifest.sha()}.yaml`),
    });
    expect(seen.uniqueKey).toBeUndefined();

    // The same hook ignores other events and exits 0.
    const other = await runHooks({ ...options, event: 'before_launch' });
    expect(other.records[0]?.success).toBe(true);
  });
});

describe('discoverHooks', () => {
  it('lists files sorted, flags non-executables, skips directories and dangling links', async () => {
    hook('z', '#!/bin/sh\n');
    hook('a', '#!/bin/sh\n', 0o600);
    mkdirSync(join(hooksDir, 'm'));
    const { symlinkSync } = await import('node:fs');
    symlinkSync(join(dir, 'missing'), join(hooksDir, 'dangling'));
    expect(await discoverHooks(hooksDir)).toEqual([
      { name: 'a', path: join(hooksDir, 'a'), executable: false },
      { name: 'z', path: join(hooksDir, 'z'), executable: true },
    ]);
  });
});

describe('readHookEnv', () => {
  it('rejects a run outside the preparer with the missing names', () => {
    expect(() => readHookEnv({ HOOK_EVENT: 'after_install' })).toThrowError(
      expect.objectContaining({
        code: 'P2_HOOKS_ENV_MISSING',
        message: expect.stringContaining('HOOKED_POD_ID'),
      }),
    );
  });
});
