import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineHook, shouldHandle } from './author.js';
import {
  HookEnvVar,
  type HookVariables,
  hookEnvironment,
  readHookEnv,
  readHookVariables,
} from './env.js';
import { HookEvents, parseHookEvent } from './events.js';

const dir = mkdtempSync(join(tmpdir(), 'p2t-hookenv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const manifestPath = join(dir, 'web-manifest.yaml');
writeFileSync(manifestPath, 'id: p2t-web\nconfig:\n  port: 8080\nstatus_port: 8080\n');

const vars: HookVariables = {
  hook: 'p2hooks.d',
  event: 'before_launch',
  node: 'h1',
  podId: 'p2t-web',
  podHome: '/data/pods/p2t-web',
  manifestPath,
  configPath: '/data/pods/p2t-web/config/p2t-web_abc.yaml',
  envPath: '/data/pods/p2t-web/env',
  configDirPath: '/data/pods/p2t-web/config',
  systemPodRoot: '/data/pods',
  uniqueKey: '0b1d3f55-5c4f-4d6c-9d55-4a2f4b0e8e11',
  readOnly: true,
};

describe('hook environment', () => {
  it('has P2s twelve variable names', () => {
    expect(Object.keys(hookEnvironment(vars)).sort()).toEqual(
      [
        'HOOK',
        'HOOK_EVENT',
        'HOOKED_NODE',
        'HOOKED_POD_ID',
        'HOOKED_POD_HOME',
        'HOOKED_POD_MANIFEST',
        'HOOKED_CONFIG_PATH',
        'HOOKED_ENV_PATH',
        'HOOKED_CONFIG_DIR_PATH',
        'HOOKED_SYSTEM_POD_ROOT',
        'HOOKED_POD_UNIQUE_KEY',
        'HOOKED_POD_READ_ONLY',
      ].sort(),
    );
    expect(hookEnvironment(vars)[HookEnvVar.POD_READ_ONLY]).toBe('true');
  });

  it('round-trips through readHookVariables, empty unique key as undefined', () => {
    expect(readHookVariables(hookEnvironment(vars))).toEqual(vars);
    const legacy = readHookVariables(
      hookEnvironment({ ...vars, uniqueKey: undefined, readOnly: false }),
    );
    expect(legacy.uniqueKey).toBeUndefined();
    expect(legacy.readOnly).toBe(false);
  });

  it('parses the manifest', () => {
    const env = readHookEnv(hookEnvironment(vars));
    expect(env.manifest.id).toBe('p2t-web');
    expect(env.manifest.statusCheck()?.port).toBe(8080);
  });

  it('says what is wrong with a bad environment', () => {
    expect(() =>
      readHookVariables({ ...hookEnvironment(vars), HOOK_EVENT: 'deploy' }),
    ).toThrowError(
      expect.objectContaining({
        code: 'P2_HOOKS_ENV_INVALID',
        message: expect.stringContaining(
          'HOOK_EVENT="deploy" is not a P2 hook event; expected one of preparer_init',
        ),
      }),
    );
    expect(() =>
      readHookVariables({ ...hookEnvironment(vars), HOOKED_POD_READ_ONLY: 'yes' }),
    ).toThrowError(/HOOKED_POD_READ_ONLY="yes": expected true or false/);
    expect(() =>
      readHookEnv({ ...hookEnvironment(vars), HOOKED_POD_MANIFEST: join(dir, 'gone.yaml') }),
    ).toThrowError(
      expect.objectContaining({
        code: 'P2_HOOKS_MANIFEST_UNREADABLE',
        message: expect.stringContaining('ENOENT'),
      }),
    );
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'launchables: [1, 2]\n');
    expect(() => readHookEnv({ ...hookEnvironment(vars), HOOKED_POD_MANIFEST: bad })).toThrowError(
      expect.objectContaining({
        code: 'P2_HOOKS_MANIFEST_UNREADABLE',
        cause: expect.objectContaining({ code: expect.stringMatching(/^P2_MANIFEST_/) }),
      }),
    );
  });
});

describe('defineHook', () => {
  const run = async (env: NodeJS.ProcessEnv, handlers: Parameters<typeof defineHook>[0]) => {
    let err = '';
    let exit = -1;
    const code = await defineHook(handlers, {
      env,
      stderr: { write: (t: string) => (err += t) },
      setExitCode: (c) => {
        exit = c;
      },
    });
    return { code, exit, err };
  };

  it('runs the handler of the event and exits 0', async () => {
    const seen: string[] = [];
    const r = await run(hookEnvironment(vars), {
      before_launch: (env) => void seen.push(env.manifest.id),
    });
    expect(r).toEqual({ code: 0, exit: 0, err: '' });
    expect(seen).toEqual(['p2t-web']);
  });

  it('exits 0 for events it does not handle', async () => {
    expect(
      (
        await run(hookEnvironment(vars), {
          after_install: () => {
            throw new Error('not me');
          },
        })
      ).code,
    ).toBe(0);
  });

  it('exits 1 with the reason when the handler throws or the env is wrong', async () => {
    const failing = await run(hookEnvironment(vars), {
      before_launch: async () => {
        throw new Error('vault at https://user:pw@vault.example/ refused');
      },
    });
    expect(failing).toEqual({
      code: 1,
      exit: 1,
      err: 'hook failed: vault at https://***@vault.example/ refused\n',
    });
    expect((await run({}, {})).err).toMatch(
      /^hook failed: not run as a P2 hook: missing HOOK, HOOK_EVENT/,
    );
  });

  it('shouldHandle filters events', () => {
    expect(shouldHandle({ event: 'after_launch' }, 'before_launch', 'after_launch')).toBe(true);
    expect(shouldHandle({ event: 'after_launch' }, 'before_launch')).toBe(false);
  });
});

describe('events', () => {
  it("lists P2's seven events and rejects others", () => {
    expect(HookEvents).toEqual([
      'preparer_init',
      'before_install',
      'after_install',
      'before_launch',
      'after_launch',
      'before_uninstall',
      'after_auth_fail',
    ]);
    expect(parseHookEvent('after_auth_fail')).toBe('after_auth_fail');
    expect(() => parseHookEvent('AFTER_INSTALL')).toThrowError(
      expect.objectContaining({ code: 'P2_HOOKS_UNKNOWN_EVENT' }),
    );
  });
});
