import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderRunAs } from './run-as.js';
import {
  renderFinish,
  renderFinishCommand,
  renderLogConfig,
  renderLogRun,
  renderRun,
  renderRunScript,
} from './scripts.js';
import { resolveSpec, type ServiceSpec } from './spec.js';

const spec = resolveSpec({
  name: 'hello__app__launch',
  entryPoint: '/data/pods/hello/app/installs/app_v1/bin/launch',
  entryPointEnv: 'bin/launch',
  args: ["it's"],
  user: 'hello',
  envDirs: ['/data/pods/hello/env', '/data/pods/hello/app/env'],
  workingDir: '/data/pods/hello',
  cgroupProcsFiles: [
    '/sys/fs/cgroup/cpu/p2/h1/hello/app/cgroup.procs',
    '/sys/fs/cgroup/memory/p2/h1/hello/app/cgroup.procs',
  ],
  requireFile: '/dev/shm/p2-may-run',
  log: { maxFileBytes: 4096, maxFiles: 3 },
});

async function syntaxOk(script: string) {
  const dir = await mkdtemp(join(tmpdir(), 'p2t-sh-'));
  try {
    await writeFile(join(dir, 's'), script);
    execFileSync('sh', ['-n', join(dir, 's')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('generated scripts', () => {
  it('run joins every cgroup, checks the require file, then drops privileges before loading env dirs', async () => {
    const run = renderRun(spec);
    expect(run.startsWith('#!/bin/sh\n')).toBe(true);
    expect(run).toContain('echo $$ > /sys/fs/cgroup/cpu/p2/h1/hello/app/cgroup.procs || ');
    expect(run).toContain('echo $$ > /sys/fs/cgroup/memory/p2/h1/hello/app/cgroup.procs || ');
    expect(run).toContain('[ -e /dev/shm/p2-may-run ] ||');
    expect(run).toContain('gid="$(id -g -- hello)"');
    const last = run.trim().split('\n').at(-1);
    expect(last).toBe(
      `exec setsid setpriv --reuid=hello "--regid=$gid" --init-groups -- chpst -e /data/pods/hello/env chpst -e /data/pods/hello/app/env env ENTRY_POINT=bin/launch /data/pods/hello/app/installs/app_v1/bin/launch 'it'\\''s'`,
    );
    await syntaxOk(run);
  });

  it('run uses an explicit group when given', () => {
    const run = renderRun(
      resolveSpec({ name: 'a__b__c', entryPoint: '/x', user: 'hello', group: 'staff' }),
    );
    expect(run).toContain('setsid setpriv --reuid=hello --regid=staff --init-groups -- /x');
    const plain = renderRun(
      resolveSpec({ name: 'a__b__c', entryPoint: '/x', user: 'hello', killProcessGroup: false }),
    );
    expect(plain).not.toContain('setsid');
    expect(plain).not.toContain('p2-run.pid');
    expect(run).not.toContain('id -g');
  });

  it('renderRunAs (shared with p2 exec and lifecycle scripts) finds a bare command on the pod PATH, as the pod', async () => {
    const script = renderRunAs({
      user: 'hello',
      group: '1001',
      envDirs: ['/data/pods/hello/env'],
      workingDir: '/data/pods/hello/app/installs/app_v1',
      command: 'ls',
      args: ['-la'],
    });
    expect(script.split('\n').at(-1)).toBe(
      'exec setpriv --reuid=hello --regid=1001 --init-groups -- chpst -e /data/pods/hello/env env ls -la',
    );
    expect(script).not.toContain('setsid'); // p2 exec keeps the terminal
    expect(script).not.toContain('id -g');
    await syntaxOk(script);
    for (const command of ['A=B', '-i', ''])
      expect(() => renderRunAs({ user: 'hello', command })).toThrow(
        expect.objectContaining({ code: 'P2_RUNIT_INVALID_SPEC' }),
      );
    expect(() =>
      renderRunAs({ user: 'hello', command: '/bin/true', extraEnv: { 'A B': 'x' } }),
    ).toThrow(expect.objectContaining({ code: 'P2_RUNIT_INVALID_SPEC' }));
  });

  it('renderRunScript is the run script of the spec, validated', () => {
    const input = { name: 'p2t-h__l__launch', entryPoint: '/x/bin/launch', user: 'root' };
    expect(renderRunScript({ ...input, killProcessGroup: false })).toBe(
      renderRun(resolveSpec({ ...input, killProcessGroup: false })),
    );
    expect(() => renderRunScript({ ...input, envDirs: ['relative/env'] })).toThrowError(
      /must be absolute/,
    );
  });

  it('finish records exit code or signal as JSON, then runs the finish command as its user', async () => {
    const withCommand = resolveSpec({
      ...spec,
      finish: { command: ['/usr/local/bin/report', '--db', '/x.db'], env: { POD_ID: "it's" } },
    });
    const finish = renderFinish(withCommand);
    expect(finish).toContain('./exits.jsonl');
    expect(finish).toContain('./last-exit.json');
    expect(finish.trim().split('\n').at(-1)).toBe(
      'if [ -f ./p2-finish ]; then exec /bin/sh ./p2-finish "$code" "$status"; fi',
    );
    await syntaxOk(finish);
    // Never the service's env dirs, never the supervisor's environment, never root, bounded.
    const command = renderFinishCommand(withCommand) as string;
    expect(command.trim().split('\n').at(-1)).toBe(
      `exec timeout -k 1 10 chpst -u nobody env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin 'POD_ID=it'\\''s' P2_EXIT_CODE="$1" P2_EXIT_STATUS="$2" /usr/local/bin/report --db /x.db`,
    );
    await syntaxOk(command);
    expect(renderFinishCommand(spec)).toBeUndefined();
  });

  it('finish writes parseable records for exits and signals, identity included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2t-finish-'));
    try {
      const identity = { podId: "it's-a-pod", launchableId: 'app', entryPoint: 'bin/launch' };
      await writeFile(join(dir, 'finish'), renderFinish(resolveSpec({ ...spec, identity })), {
        mode: 0o755,
      });
      execFileSync('./finish', ['3', '3'], { cwd: dir });
      execFileSync('./finish', ['-1', '9'], { cwd: dir });
      const lines = (await readFile(join(dir, 'exits.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toMatchObject([
        { service: 'hello__app__launch', ...identity, exitCode: 3, signal: null, waitStatus: 3 },
        { service: 'hello__app__launch', ...identity, exitCode: null, signal: 9, waitStatus: 9 },
      ]);
      expect(Date.parse(lines[1].time)).toBeGreaterThan(Date.now() - 60_000);
      expect(JSON.parse(await readFile(join(dir, 'last-exit.json'), 'utf8'))).toEqual(lines[1]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('log/run runs svlogd as the log user with size rotation config', async () => {
    expect(renderLogRun(spec)).toContain('exec chpst -u nobody svlogd -tt ./main');
    expect(renderLogConfig(spec)).toBe('s4096\nn3\n');
    await syntaxOk(renderLogRun(spec));
  });

  it('log/run runs a log command as the log user, with its own environment only', async () => {
    const logRun = renderLogRun(
      resolveSpec({
        ...spec,
        log: {
          command: ['p2-log-bridge', '--', 'svlogd', '-tt', './main'],
          env: { POD_ID: 'hello', LAUNCHABLE_ID: 'app' },
        },
      }),
    );
    expect(logRun.trim().split('\n').at(-1)).toBe(
      'exec chpst -u nobody env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin POD_ID=hello LAUNCHABLE_ID=app p2-log-bridge -- svlogd -tt ./main',
    );
    await syntaxOk(logRun);
  });

  it('refuses specs that cannot work', () => {
    const base = { name: 'a__b__c', entryPoint: '/x', user: 'hello' };
    const bads: ServiceSpec[] = [
      { ...base, entryPoint: 'bin/launch' },
      { ...base, user: 'Bad User' },
      { ...base, envDirs: ['relative'] },
      { ...base, cgroupProcsFiles: ['/sys/fs/cgroup/memory/x/tasks'] },
      { ...base, log: { maxFileBytes: 100 } },
      { ...base, restartPolicy: 'sometimes' as 'always' },
      // Helpers read what the service wrote: never as root, never with a word env would eat.
      { ...base, log: { user: 'root', command: ['cat'] } },
      { ...base, log: { user: '0' } },
      { ...base, finish: { command: ['true'], user: 'root' } },
      { ...base, finish: { command: [] } },
      { ...base, log: { command: ['A=b', 'sh'] } },
      { ...base, log: { command: ['cat'], env: { PATH: '/tmp' } } },
      { ...base, log: { command: ['cat'], env: { 'A B': 'x' } } },
    ];
    for (const bad of bads)
      expect(() => resolveSpec(bad)).toThrow(
        expect.objectContaining({ code: 'P2_RUNIT_INVALID_SPEC' }),
      );
    expect(() => resolveSpec({ ...base, name: 'a/b' })).toThrow(
      expect.objectContaining({ code: 'P2_RUNIT_INVALID_NAME' }),
    );
  });
});
