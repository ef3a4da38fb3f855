import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Cgroup, createCgroup, detectCgroups } from '@p2/cgroups';
import { ensureUser, removeUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  down,
  isSupervised,
  once,
  RunsvDir,
  readExitLog,
  readStatus,
  restart,
  up,
  writeService,
} from './index.js';

const suffix = Math.random().toString(36).slice(2, 8);
const userName = `p2t-rsv-${suffix}`;
const extraGroup = `p2t-rsg-${suffix}`;
const cgroupParent = `p2t-rcg-${suffix}`;
let base: string;
let root: string;
let runsvdir: RunsvDir;
let cgroups: Cgroup[] = [];
let uid = 0;
let gid = 0;
let extraGid = 0;

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 8000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function app(name: string, body: string): Promise<string> {
  const path = join(base, 'apps', name, 'bin', 'launch');
  await mkdir(join(base, 'apps', name, 'bin'), { recursive: true });
  await writeFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

const exits = readExitLog;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'p2t-runit-'));
  await chmod(base, 0o755);
  root = join(base, 'service');
  const group = await ensureUser({ name: extraGroup });
  extraGid = group.group.gid;
  const user = await ensureUser({
    name: userName,
    home: join(base, 'home'),
    supplementaryGroups: [extraGroup],
  });
  uid = user.user.uid;
  gid = user.user.gid;
  for (const [dir, files] of [
    ['env/pod', { FOO: 'from-pod', BAR: 'from-pod' }],
    ['env/launchable', { BAR: 'from-launchable' }],
  ] as const) {
    await mkdir(join(base, dir), { recursive: true });
    for (const [key, value] of Object.entries(files)) await writeFile(join(base, dir, key), value);
  }
  const hierarchy = await detectCgroups();
  const parent = await createCgroup(hierarchy, { name: cgroupParent });
  cgroups.push(parent);
  runsvdir = new RunsvDir({ root, slots: 3 });
  await runsvdir.start();
  await runsvdir.waitForSlots(3);
});

afterAll(async () => {
  await runsvdir?.stop({ stopServices: true });
  for (const cgroup of cgroups.reverse())
    await cgroup.remove({ kill: true }).catch(() => undefined);
  cgroups = [];
  await removeUser(userName).catch(() => undefined);
  await removeUser(extraGroup).catch(() => undefined);
  if (base) await rm(base, { recursive: true, force: true });
});

describe('RunsvDir with real runit', () => {
  it('starts a service at once as its user, in its cgroup, with env dirs, cwd and logs', async () => {
    const hierarchy = await detectCgroups();
    const cgroup = await createCgroup(
      hierarchy,
      { parent: cgroupParent, name: 'p2/h1/pod/app' },
      { cpus: 1, memory: '64M' },
    );
    cgroups.push(cgroup);
    const entry = await app(
      'web',
      'echo "entry=$ENTRY_POINT foo=$FOO bar=$BAR cwd=$(pwd)"\nexec sleep 1000',
    );
    const installed = await runsvdir.install({
      name: `p2t-pod-${suffix}__app__launch`,
      entryPoint: entry,
      entryPointEnv: 'bin/launch',
      user: userName,
      envDirs: [join(base, 'env/pod'), join(base, 'env/launchable')],
      workingDir: base,
      cgroupProcsFiles: cgroup.procsFiles(),
    });
    expect(installed.via).toBe('slot');
    const status = await readStatus(installed.dir);
    expect(status).toMatchObject({ state: 'run', want: 'up', supervised: true, normallyUp: true });
    const pid = status.pid as number;
    // No wrapper: runsv's child is the app itself (the launch script exec'd sleep).
    // The pid stays the same through run → chpst → env → setpriv → launch → sleep.
    await until('exec chain to reach the app', async () =>
      (await readFile(`/proc/${pid}/cmdline`, 'utf8')).startsWith('sleep\0'),
    );
    expect((await readStatus(installed.dir)).pid).toBe(pid);
    const procStatus = await readFile(`/proc/${pid}/status`, 'utf8');
    expect(procStatus).toMatch(new RegExp(`\\nUid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}\\n`));
    expect(procStatus).toMatch(new RegExp(`\\nGid:\\t${gid}\\t${gid}\\t${gid}\\t${gid}\\n`));
    const groups = /\nGroups:\t([^\n]*)\n/
      .exec(procStatus)?.[1]
      ?.trim()
      .split(/\s+/)
      .map(Number)
      .sort();
    expect(groups).toEqual([gid, extraGid].sort());
    const membership = await readFile(`/proc/${pid}/cgroup`, 'utf8');
    expect(membership).toContain(`:memory:/${cgroupParent}/p2/h1/pod/app\n`);
    expect(membership).toContain(`:cpu:/${cgroupParent}/p2/h1/pod/app\n`);
    expect(
      await readFile(
        join(
          hierarchy.version === 1 ? (hierarchy.mounts.memory as string) : '',
          cgroupParent,
          'p2/h1/pod/app/memory.limit_in_bytes',
        ),
        'utf8',
      ),
    ).toBe(`${128 * 2 ** 20}\n`);
    expect(await readlink(`/proc/${pid}/cwd`)).toBe(base);
    const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    expect(environ).toEqual(
      expect.arrayContaining(['ENTRY_POINT=bin/launch', 'FOO=from-pod', 'BAR=from-launchable']),
    );
    const line = await until('log line', async () => {
      const current = await readFile(join(installed.dir, 'log/main/current'), 'utf8');
      return current.includes('entry=') ? current : undefined;
    });
    expect(line).toContain(`entry=bin/launch foo=from-pod bar=from-launchable cwd=${base}`);
    // Output may hold secrets: the log dir is svlogd's (nobody's) alone, so no other user — any
    // other pod — can read it (found by e2e/test/hostile-pod.test.ts).
    const logDir = await stat(join(installed.dir, 'log/main'));
    expect([logDir.uid, logDir.mode & 0o777]).toEqual([65534, 0o700]);
    expect(() =>
      execFileSync(
        'runuser',
        ['-u', userName, '--', 'cat', join(installed.dir, 'log/main/current')],
        {
          stdio: 'pipe',
        },
      ),
    ).toThrow(/Permission denied/);

    // stop, start, restart with sv semantics
    const stopped = await down(installed.dir, { timeoutMs: 5000 });
    expect(stopped.status.state).toBe('down');
    expect(stopped.status.want).toBe('down');
    const after = await readStatus(installed.dir);
    expect(after.lastExit).toMatchObject({ exitCode: null, signal: 15 });
    const started = await up(installed.dir, { timeoutMs: 5000 });
    expect(started.status.pid).not.toBe(pid);
    const restarted = await restart(installed.dir, { timeoutMs: 5000 });
    expect(restarted.status.pid).not.toBe(started.status.pid);
    expect(restarted.status.state).toBe('run');

    // removing stops it and deletes the directory
    const last = restarted.status.pid as number;
    expect(await runsvdir.remove(installed.name, { timeoutMs: 5000 })).toBe(true);
    expect(await readFile(`/proc/${last}/status`, 'utf8').catch(() => 'gone')).toBe('gone');
    expect(await runsvdir.services()).not.toContain(installed.name);
  });

  it('loads env dirs only after dropping privileges: LD_PRELOAD in them never runs as root', async () => {
    // glibc's libpcprofile.so creates $PCPROFILE_OUTPUT as soon as a process loads it, so the
    // file's owner is the uid of the first process that saw the env dir's LD_PRELOAD.
    const lib = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu']
      .map((d) => join(d, 'libpcprofile.so'))
      .find((p) => existsSync(p));
    expect(lib, 'glibc ships libpcprofile.so').toBeDefined();
    const outDir = join(base, 'preload-out');
    await mkdir(outDir, { recursive: true });
    await chown(outDir, uid, gid);
    const envDir = join(base, 'env/hostile');
    await mkdir(envDir, { recursive: true });
    await writeFile(join(envDir, 'LD_PRELOAD'), lib as string);
    await writeFile(join(envDir, 'PCPROFILE_OUTPUT'), join(outDir, 'who'));
    const entry = await app('preloaded', 'exec sleep 1000');
    const { dir, name } = await runsvdir.install({
      name: `p2t-preload-${suffix}__app__launch`,
      entryPoint: entry,
      user: userName,
      envDirs: [envDir],
    });
    try {
      const pid = await until('service running', async () => (await readStatus(dir)).pid);
      // The pod's own process does get the variable (once the exec chain reached it).
      await until('the app with its env', async () =>
        (await readFile(`/proc/${pid}/environ`, 'utf8')).includes(`LD_PRELOAD=${lib}`),
      );
      const owner = await until(
        'preload marker',
        async () => (await stat(join(outDir, 'who'))).uid,
      );
      expect(owner).toBe(uid);
    } finally {
      await runsvdir.remove(name, { timeoutMs: 5000 });
      await runsvdir.waitForSlots(3); // later tests expect warm slots, not runsvdir's 5 s pickup
    }
  });

  it('reads env dirs as the service user: an env dir only root can read stops the start', async () => {
    const envDir = join(base, 'env/root-only');
    await mkdir(envDir, { recursive: true, mode: 0o700 });
    await chmod(envDir, 0o700);
    await writeFile(join(envDir, 'SECRET'), 'x');
    const entry = await app('rootonly', 'echo started; exec sleep 1000');
    const { dir, name } = await runsvdir.install({
      name: `p2t-rootenv-${suffix}__app__launch`,
      entryPoint: entry,
      user: userName,
      envDirs: [envDir],
    });
    try {
      const log = await until('chpst failure in the log', async () => {
        const text = await readFile(join(dir, 'log/main/current'), 'utf8');
        return text.includes('chpst') ? text : undefined;
      });
      expect(log).not.toContain('started');
    } finally {
      await runsvdir.remove(name, { timeoutMs: 5000 });
      await runsvdir.waitForSlots(3); // later tests expect warm slots, not runsvdir's 5 s pickup
    }
  });

  it('kills what is left of the process group when the app exits', async () => {
    const entry = await app('forker', 'sleep 1001 &\nexec sleep 1000');
    const { dir } = await runsvdir.install({
      name: `p2t-fork-${suffix}__app__launch`,
      entryPoint: entry,
      user: userName,
    });
    const pid = (await readStatus(dir)).pid as number;
    const child = await until('background child', async () => {
      const out = execFileSync('pgrep', ['-g', String(pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map(Number);
      return out.find((p) => p !== pid);
    });
    expect((await readFile(`/proc/${child}/cmdline`, 'utf8')).startsWith('sleep\u00001001')).toBe(
      true,
    );
    await down(dir, { timeoutMs: 5000 });
    // Dead: gone, or a zombie waiting for init (this sandbox's pid 1 does not reap orphans).
    const stat = await readFile(`/proc/${child}/stat`, 'utf8').catch(() => 'gone');
    expect(stat === 'gone' || / Z /.test(stat.slice(stat.lastIndexOf(')')))).toBe(true);
  });

  it('restarts a crashing service (policy always) and records each exit code', async () => {
    const entry = await app('crash', 'sleep 0.2; exit 3');
    const { dir } = await runsvdir.install({
      name: `p2t-crash-${suffix}__app__launch`,
      entryPoint: entry,
      user: userName,
      identity: { podId: `p2t-crash-${suffix}`, launchableId: 'app', entryPoint: 'bin/launch' },
    });
    const records = await until('two exits', async () => {
      const list = await exits(dir);
      return list.length >= 2 ? list : undefined;
    });
    expect(records.slice(0, 2).map((r) => [r.exitCode, r.signal])).toEqual([
      [3, null],
      [3, null],
    ]);
    expect(records[0]).toMatchObject({
      podId: `p2t-crash-${suffix}`,
      launchableId: 'app',
      entryPoint: 'bin/launch',
    });
    expect((await readStatus(dir)).want).toBe('up');
  });

  it('leaves a policy-never service down after it exits', async () => {
    const entry = await app('oneshot', 'exit 0');
    const installed = await runsvdir.install({
      name: `p2t-once-${suffix}__app__launch`,
      entryPoint: entry,
      user: userName,
      restartPolicy: 'never',
    });
    const before = await readStatus(installed.dir);
    expect(before).toMatchObject({ state: 'down', normallyUp: false, lastExit: undefined });
    await runsvdir.startService(installed.name, { timeoutMs: 5000 });
    await until('exit recorded', async () => (await readStatus(installed.dir)).lastExit);
    await sleep(1500);
    const status = await readStatus(installed.dir);
    expect(status).toMatchObject({
      state: 'down',
      want: 'down',
      lastExit: { exitCode: 0, signal: null },
    });
    expect(await exits(installed.dir)).toHaveLength(1);
  });

  it('records an OOM kill of a memory hog (signal 9) and the cgroup counts it', async () => {
    const hierarchy = await detectCgroups();
    const cgroup = await createCgroup(
      hierarchy,
      { parent: cgroupParent, name: 'p2/h1/hog/app' },
      { memory: '16M' },
    );
    cgroups.push(cgroup);
    const entry = await app(
      'hog',
      '# tail buffers one endless line from /dev/zero: memory grows until the limit\nexec tail /dev/zero',
    );
    const { dir } = await runsvdir.install({
      name: `p2t-hog-${suffix}__app__launch`,
      entryPoint: entry,
      user: userName,
      restartPolicy: 'never',
      cgroupProcsFiles: cgroup.procsFiles(),
    });
    await once(dir, { timeoutMs: 5000 });
    const exit = await until('oom exit', async () => (await readStatus(dir)).lastExit);
    expect(exit).toMatchObject({ exitCode: null, signal: 9 });
    expect((await cgroup.usage()).oomKills).toBeGreaterThanOrEqual(1);
  });

  it('rotates logs by size with svlogd', async () => {
    const entry = await app(
      'chatty',
      'i=0; while [ $i -lt 2000 ]; do echo "line $i of a chatty service that fills its log"; i=$((i+1)); done; exec sleep 1000',
    );
    const { dir } = await runsvdir.install({
      name: `p2t-log-${suffix}__app__launch`,
      entryPoint: entry,
      user: userName,
      log: { maxFileBytes: 4096, maxFiles: 3 },
    });
    // Wait until the writer is done and svlogd has written its last line, then check the steady state.
    await until(
      'last log line',
      async () => (await readFile(join(dir, 'log/main/current'), 'utf8')).includes('line 1999 '),
      15_000,
    );
    const rotated = (await readdir(join(dir, 'log/main'))).filter((f) => f.startsWith('@'));
    expect(rotated.length).toBeGreaterThanOrEqual(2);
    expect(rotated.length).toBeLessThanOrEqual(3);
    for (const file of [...rotated, 'current']) {
      const text = await readFile(join(dir, 'log/main', file), 'utf8');
      expect(text.length).toBeLessThanOrEqual(4096);
    }
  });

  it('runs a log command and a finish command as nobody, with only the environment given', async () => {
    // The log command writes what it gets, who it is and its environment into ./main (nobody's).
    await mkdir(join(base, 'bin'), { recursive: true });
    const logCommand = join(base, 'bin', 'log-to-file');
    await writeFile(
      logCommand,
      '#!/bin/sh\nid -u > ./main/uid\nenv > ./main/env\nexec cat >> ./main/got\n',
      { mode: 0o755 },
    );
    const finishCommand = join(base, 'bin', 'finish-to-file');
    await writeFile(
      finishCommand,
      '#!/bin/sh\necho "$(id -u) $POD_ID $P2_EXIT_CODE $P2_EXIT_STATUS $#" >> ./log/main/finished\n',
      { mode: 0o755 },
    );
    const entry = await app('logged', 'echo "first line"; echo "second line"; exit 7');
    const spec = {
      name: `p2t-logcmd-${suffix}__app__launch`,
      entryPoint: entry,
      user: userName,
      restartPolicy: 'never' as const,
      log: { command: [logCommand], env: { POD_ID: 'p2t-logcmd', LAUNCHABLE_ID: 'app' } },
      finish: { command: [finishCommand], env: { POD_ID: 'p2t-logcmd' } },
    };
    process.env.P2T_SUPERVISOR_SECRET = 'never-for-helpers';
    const installed = await runsvdir.install(spec);
    delete process.env.P2T_SUPERVISOR_SECRET;
    const main = join(installed.dir, 'log/main');
    await runsvdir.startService(installed.name, { timeoutMs: 5000 });
    const got = await until('both lines through the log command', async () => {
      const text = await readFile(join(main, 'got'), 'utf8');
      return text.includes('second line') ? text : undefined;
    });
    expect(got).toBe('first line\nsecond line\n');
    expect(await readFile(join(main, 'uid'), 'utf8')).toBe('65534\n');
    const env = await readFile(join(main, 'env'), 'utf8');
    expect(env).toContain('POD_ID=p2t-logcmd\n');
    expect(env).toContain('LAUNCHABLE_ID=app\n');
    // Nothing of whoever started runsvdir (the preparer) reaches the log command.
    expect(env).not.toContain('P2T_SUPERVISOR_SECRET');
    expect(env).not.toContain('VITEST');
    const logPid = (await readStatus(installed.dir)).log?.pid as number;
    expect(await readFile(`/proc/${logPid}/status`, 'utf8')).toMatch(
      /\nUid:\t65534\t65534\t65534\t65534\n/,
    );
    // The finish command ran after the exit was recorded, as nobody, with runit's arguments in
    // its environment (none on its command line).
    const finished = await until('finish command', async () =>
      readFile(join(main, 'finished'), 'utf8'),
    );
    expect(finished).toBe('65534 p2t-logcmd 7 0 0\n');
    expect((await readStatus(installed.dir)).lastExit).toMatchObject({ exitCode: 7 });

    // A new log command replaces the running one; nothing buffered in runsv's pipe is lost.
    const again = await runsvdir.install({ ...spec, log: { command: ['/bin/cat'] } });
    expect(again).toMatchObject({ via: 'update', logRestarted: true });
    const newPid = (await readStatus(installed.dir)).log?.pid as number;
    expect(newPid).not.toBe(logPid);
    // Its run script execs through chpst and env into cat (the same pid): wait for the last exec.
    expect(
      await until('the new log command to exec', async () => {
        const cmdline = await readFile(`/proc/${newPid}/cmdline`, 'utf8');
        return cmdline === '/bin/cat\0' ? cmdline : undefined;
      }),
    ).toBe('/bin/cat\0');
    // A tool that does not know the host's settings keeps them.
    const kept = await runsvdir.install({ ...spec, log: {}, finish: undefined, keepHelpers: true });
    expect(kept.logRestarted).toBeUndefined();
    expect((await readStatus(installed.dir)).log?.pid).toBe(newPid);
    expect(existsSync(join(installed.dir, 'p2-finish'))).toBe(true);
    // Without keepHelpers the defaults come back: svlogd and no finish command.
    expect(await runsvdir.install({ ...spec, log: {}, finish: undefined })).toMatchObject({
      logRestarted: true,
    });
    expect(existsSync(join(installed.dir, 'p2-finish'))).toBe(false);
    await runsvdir.remove(installed.name, { timeoutMs: 5000 });
    // A new service (from a warm slot, which has a log/run of its own) kept nothing: svlogd.
    await runsvdir.waitForSlots(1);
    const fresh = await runsvdir.install({
      ...spec,
      name: `p2t-keep-${suffix}`,
      log: {},
      finish: undefined,
      keepHelpers: true,
    });
    expect(fresh.via).toBe('slot');
    expect(await readFile(join(fresh.dir, 'log/run'), 'utf8')).toContain('svlogd -tt ./main');
    await runsvdir.remove(fresh.name, { timeoutMs: 5000 });
    await runsvdir.waitForSlots(3);
  });

  it('refuses bad input with coded errors and writes nothing', async () => {
    await expect(
      runsvdir.install({
        name: `p2t-missing-${suffix}__app__launch`,
        entryPoint: join(base, 'apps/none/bin/launch'),
        user: userName,
      }),
    ).rejects.toMatchObject({ code: 'P2_RUNIT_ENTRY_POINT_MISSING' });
    await expect(
      runsvdir.install({ name: 'Bad Pod__app__launch', entryPoint: '/bin/true', user: userName }),
    ).rejects.toMatchObject({
      code: 'P2_RUNIT_INVALID_NAME',
    });
    await expect(
      runsvdir.install({
        name: `p2t-env-${suffix}__app__launch`,
        entryPoint: '/bin/true',
        user: userName,
        envDirs: [join(base, 'nope')],
      }),
    ).rejects.toMatchObject({ code: 'P2_RUNIT_INVALID_SPEC' });
    expect(
      (await runsvdir.services()).filter((s) => s.includes('missing') || s.includes('env-')),
    ).toEqual([]);
    // a directory no runsv watches
    const lonely = join(base, 'lonely');
    const written = await writeService(lonely.replace(/lonely$/, ''), {
      name: `p2t-lonely-${suffix}`,
      entryPoint: '/bin/true',
      user: userName,
    });
    expect(written.created).toBe(true);
    await expect(up(written.dir, { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'P2_RUNIT_NOT_SUPERVISED',
    });
    await expect(readStatus(written.dir)).rejects.toMatchObject({
      code: 'P2_RUNIT_NOT_SUPERVISED',
    });
    await expect(readStatus(join(base, 'nothing'))).rejects.toMatchObject({
      code: 'P2_RUNIT_NOT_FOUND',
    });
  });

  it('installs the same service from two concurrent callers once', async () => {
    const entry = await app('twice', 'exec sleep 1000');
    const spec = { name: `p2t-twice-${suffix}__app__launch`, entryPoint: entry, user: userName };
    const results = await Promise.all([runsvdir.install(spec), runsvdir.install(spec)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results.filter((r) => r.via === 'update')).toHaveLength(1);
    const status = await until('service up', async () => {
      const s = await readStatus(results[0].dir);
      return s.state === 'run' ? s : undefined;
    });
    expect(status).toMatchObject({ state: 'run', supervised: true });
    expect((await runsvdir.services()).filter((s) => s === spec.name)).toHaveLength(1);
  });

  it('adopts the running runsvdir instead of starting a second one, even without its pid file', async () => {
    const again = new RunsvDir({ root, slots: 3 });
    await again.start();
    expect(again.pid).toBe(runsvdir.pid);
    await rm(join(root, '.p2-runsvdir.pid'));
    const third = new RunsvDir({ root, slots: 3 });
    await third.start();
    expect(third.pid).toBe(runsvdir.pid);
  });

  it('falls back to runsvdir pickup when no slot is free, and to a direct runsv when asked', async () => {
    const cold = new RunsvDir({ root: join(base, 'cold'), slots: 0 });
    const direct = new RunsvDir({ root: join(base, 'direct'), slots: 0, whenNoSlot: 'runsv' });
    await cold.start();
    await direct.start();
    try {
      const entry = await app('idle', 'exec sleep 1000');
      const a = await direct.install({
        name: `p2t-direct-${suffix}`,
        entryPoint: entry,
        user: userName,
      });
      expect(a.via).toBe('runsv');
      expect(await isSupervised(a.dir)).toBe(true);
      const b = await cold.install({
        name: `p2t-cold-${suffix}`,
        entryPoint: entry,
        user: userName,
      });
      expect(b.via).toBe('runsvdir');
      expect(
        await until('cold service up', async () =>
          (await readStatus(b.dir)).state === 'run' ? true : undefined,
        ),
      ).toBe(true);
    } finally {
      await cold.stop({ stopServices: true });
      await direct.stop({ stopServices: true });
    }
    // stop() also ends a runsv that runsvdir did not start
    expect(await isSupervised(join(base, 'direct', `p2t-direct-${suffix}`))).toBe(false);
    expect(await isSupervised(join(base, 'cold', `p2t-cold-${suffix}`))).toBe(false);
  });
});
