/**
 * Pod cgroup naming on this host's real cgroup v1 (root): P2's flat default, nested names with
 * `cgroupNaming.nested` (and the pod's `resource_limits` with `podCgroupLimits`), and a host that
 * switches from nested to flat — its services move at the next launch, and a forced halt or an
 * uninstall removes both forms, killing what was left in them. Names start with p2t-; every
 * cgroup, service, user and file is removed in afterAll, also when a test failed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CgroupHierarchy,
  detectCgroups,
  findPodCgroups,
  openCgroup,
  removePodCgroups,
} from '@p2/cgroups';
import { packArtifact } from '@p2/hoist';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { RunsvDir, readStatus } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodHost } from './pod-host.js';
import type { PodHostOptions } from './types.js';

const suffix = randomBytes(3).toString('hex');
const podId = `p2t-cgn-${suffix}`;
const node = `p2t-cgnode-${suffix}`;
const v1 = existsSync('/sys/fs/cgroup/memory') && existsSync('/sys/fs/cgroup/cpu');

let work: string;
let artifacts: string;
let runsvdir: RunsvDir;
let hierarchy: CgroupHierarchy;
const strays: ChildProcess[] = [];

const cpu = (path: string) => join('/sys/fs/cgroup/cpu', path);
const memory = (path: string) => join('/sys/fs/cgroup/memory', path);
const flat = `${podId}__app`;
const nested = `p2/${node}/${podId}/app`;

function host(extra: Partial<PodHostOptions> = {}): PodHost {
  return new PodHost({
    podRoot: join(work, 'pods'),
    nodeName: node,
    runsvdir,
    cgroups: hierarchy,
    fetch: { localRoots: [artifacts] },
    ...extra,
  });
}

async function manifest(cpus = { launchable: 1, pod: 2 }): Promise<Manifest> {
  const location = join(artifacts, `sleeper_${'c'.repeat(40)}.tar.gz`);
  if (!existsSync(location))
    await packArtifact(
      [
        { name: 'bin/', type: 'directory' },
        { name: 'bin/launch', mode: 0o755, content: '#!/bin/sh\nexec sleep 600\n' },
        { name: 'bin/enable', mode: 0o755, content: script('enable') },
        { name: 'bin/disable', mode: 0o755, content: script('disable') },
      ],
      { output: location },
    );
  return new ManifestBuilder()
    .setId(podId)
    .setLaunchable('app', {
      launchableType: 'hoist',
      location,
      restartTimeout: '5s',
      cgroup: { cpus: cpus.launchable, memory: 64 * 2 ** 20 },
    })
    .setResourceLimits({ cpus: cpus.pod, memory: 256 * 2 ** 20 })
    .build();
}

/** A lifecycle script that notes the memory cgroup it runs in, in the pod's data dir. */
function script(name: string): string {
  return `#!/bin/sh\necho "${name} $(grep :memory: /proc/self/cgroup)" >> "$POD_DATA_DIR/scripts.log"\n`;
}

/** What the lifecycle scripts noted: `<script> <n>:memory:<cgroup>` lines. */
async function scriptsLog(h: PodHost): Promise<string[]> {
  const text = await readFile(join(h.layout({ podId }).dataDir, 'scripts.log'), 'utf8');
  return text.split('\n').filter(Boolean);
}

async function servicePid(): Promise<number> {
  const dir = join(runsvdir.root, `${podId}__app__launch`);
  for (let i = 0; i < 100; i++) {
    const status = await readStatus(dir).catch(() => undefined);
    if (status?.state === 'run' && status.pid) return status.pid;
    await sleep(100);
  }
  throw new Error(`${dir} is not running`);
}

async function procs(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/** The running service's pid once it is the one in `path` (a restart changes the pid). */
async function serviceIn(path: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const pid = await servicePid();
    if ((await procs(cpu(join(path, 'cgroup.procs')))).includes(pid)) return pid;
    await sleep(100);
  }
  throw new Error(`the service never ran in ${path}`);
}

const read = async (file: string) => (await readFile(file, 'utf8')).trim();

function exited(child: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode);
    else child.once('exit', (_code, signal) => resolve(signal));
  });
}

beforeAll(async () => {
  if (!v1) return;
  work = await mkdtemp(join(tmpdir(), 'p2t-cgnames-'));
  await chmod(work, 0o755);
  artifacts = join(work, 'artifacts');
  await mkdir(artifacts, { mode: 0o755 });
  await mkdir(join(work, 'pods'), { mode: 0o755 });
  runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 2 });
  await runsvdir.start();
  hierarchy = await detectCgroups();
});

afterAll(async () => {
  if (!v1) return;
  await host()
    .uninstall({ podId })
    .catch(() => undefined);
  await runsvdir?.stop({ stopServices: true }).catch(() => undefined);
  for (const child of strays) child.kill('SIGKILL');
  await removePodCgroups(hierarchy, {}, { node, pod: podId }).catch(() => undefined);
  await openCgroup(hierarchy, { name: `p2/${node}` })
    .remove({ kill: true })
    .catch(() => undefined);
  if (await findUser(podId)) await removeUser(podId, { removeGroup: true });
  await rm(work, { recursive: true, force: true });
});

describe.runIf(v1)('pod cgroups on cgroup v1', () => {
  it("runs a service in P2's flat cgroup <pod>__<launchable> by default, with the manifest's limits", async () => {
    const flatHost = host();
    const m = await manifest();
    expect(flatHost.launchableCgroup({ podId }, 'app')).toEqual({ parent: '', name: flat });
    await flatHost.install(m);
    await flatHost.launch(m);
    const pid = await serviceIn(flat);
    expect(await procs(memory(`${flat}/cgroup.procs`))).toContain(pid);
    expect(await read(`/proc/${pid}/cgroup`)).toMatch(new RegExp(`:memory:/${flat}$`, 'm'));
    expect(await read(cpu(`${flat}/cpu.cfs_quota_us`))).toBe('1000000');
    expect(await read(memory(`${flat}/memory.soft_limit_in_bytes`))).toBe(String(64 * 2 ** 20));
    expect(await read(memory(`${flat}/memory.limit_in_bytes`))).toBe(String(128 * 2 ** 20));
    expect(existsSync(cpu(`p2/${node}`))).toBe(false);
    await flatHost.uninstall({ podId });
    expect(existsSync(cpu(flat))).toBe(false);
    expect(existsSync(memory(flat))).toBe(false);
  });

  it('runs it in p2/<node>/<pod>/<launchable> with nested names, the pod cgroup limited by resource_limits', async () => {
    const nestedHost = host({ cgroupNaming: { nested: true }, podCgroupLimits: true });
    const m = await manifest();
    await nestedHost.install(m);
    await nestedHost.launch(m);
    const pid = await serviceIn(nested);
    expect(await procs(memory(`${nested}/cgroup.procs`))).toContain(pid);
    expect(await read(cpu(`${nested}/cpu.cfs_quota_us`))).toBe('1000000');
    // P2's include_pod_id_arg: the pod's own cgroup, parent of its launchables', has its limits.
    expect(await read(cpu(`p2/${node}/${podId}/cpu.cfs_quota_us`))).toBe('2000000');
    expect(await read(memory(`p2/${node}/${podId}/memory.limit_in_bytes`))).toBe(
      String(512 * 2 ** 20),
    );
    expect(existsSync(cpu(flat))).toBe(false);
    await nestedHost.uninstall({ podId });
    expect(existsSync(cpu(`p2/${node}/${podId}`))).toBe(false);
    expect(existsSync(memory(`p2/${node}/${podId}`))).toBe(false);
  });

  it('lowers and raises the pod limit around its launchables (v1 refuses a child quota above its parent)', async () => {
    const nestedHost = host({ cgroupNaming: { nested: true }, podCgroupLimits: true });
    const quota = (path: string) => read(cpu(`${path}/cpu.cfs_quota_us`));
    const wide = await manifest({ launchable: 3, pod: 3 });
    await nestedHost.install(wide);
    await nestedHost.launch(wide);
    expect([await quota(`p2/${node}/${podId}`), await quota(nested)]).toEqual([
      '3000000',
      '3000000',
    ]);
    const narrow = await manifest({ launchable: 1, pod: 1 });
    await nestedHost.launch(narrow);
    expect([await quota(`p2/${node}/${podId}`), await quota(nested)]).toEqual([
      '1000000',
      '1000000',
    ]);
    await nestedHost.launch(wide);
    expect([await quota(`p2/${node}/${podId}`), await quota(nested)]).toEqual([
      '3000000',
      '3000000',
    ]);
    await nestedHost.uninstall({ podId });
  });

  it('nested names without podCgroupLimits leave the pod cgroup unlimited', async () => {
    const nestedHost = host({ cgroupNaming: { nested: true } });
    const m = await manifest();
    await nestedHost.install(m);
    await nestedHost.launch(m);
    await serviceIn(nested);
    expect(await read(cpu(`p2/${node}/${podId}/cpu.cfs_quota_us`))).toBe('-1');
    await nestedHost.uninstall({ podId });
  });

  it('moving from nested to flat: the relaunch moves the service, limits stay where processes are, a forced halt removes both forms', async () => {
    const m = await manifest();
    const before = host({ cgroupNaming: { nested: true } });
    await before.install(m);
    await before.launch(m);
    const oldPid = await serviceIn(nested);
    // Something the old version left running (a daemonised child) stays in the old cgroup.
    const stray = spawn('sleep', ['600'], { stdio: 'ignore' });
    strays.push(stray);
    await openCgroup(hierarchy, { name: nested }).addProcess(stray.pid as number);

    // The host restarts with P2's default naming; the pod's next launch (its next deploy).
    const after = host();
    await after.launch(m);
    const newPid = await serviceIn(flat);
    expect(newPid).not.toBe(oldPid);
    expect(await procs(cpu(`${nested}/cgroup.procs`))).toEqual([stray.pid]);
    expect(await read(cpu(`${flat}/cpu.cfs_quota_us`))).toBe('1000000');
    // The old cgroup keeps its limits while a process is in it.
    expect(await read(cpu(`${nested}/cpu.cfs_quota_us`))).toBe('1000000');
    expect(await read(memory(`${nested}/memory.limit_in_bytes`))).toBe(String(128 * 2 ** 20));
    await after.halt(m, { force: true });
    expect(await exited(stray)).toBe('SIGKILL');
    // bin/enable ran in the cgroup its launch made; bin/disable in the one the service was in.
    expect((await scriptsLog(after)).map((line) => line.replace(/ \d+:/, ' '))).toEqual([
      `enable memory:/${nested}`,
      `enable memory:/${flat}`,
      `disable memory:/${flat}`,
    ]);
    for (const path of [flat, `p2/${node}/${podId}`]) {
      expect(existsSync(cpu(path))).toBe(false);
      expect(existsSync(memory(path))).toBe(false);
    }

    // Started again, it runs flat; the uninstall leaves no cgroup of the pod in either form.
    await after.launch(m);
    await serviceIn(flat);
    await after.uninstall({ podId });
    expect(await findPodCgroups(hierarchy, {}, { node, pod: podId })).toEqual([]);
  });

  it("an emptied cgroup of the earlier naming goes at the relaunch; an update's halt keeps the current one", async () => {
    const m = await manifest();
    const before = host({ cgroupNaming: { nested: true } });
    await before.install(m);
    await before.launch(m);
    await serviceIn(nested);
    const after = host();
    await after.halt(m);
    // Not forced (an update): the stopped service's old cgroup was empty, so it went.
    expect(existsSync(cpu(`p2/${node}/${podId}`))).toBe(false);
    await after.launch(m);
    await serviceIn(flat);
    await after.halt(m);
    expect(existsSync(cpu(flat))).toBe(true);
    // And back: flat → nested on the next launch removes the emptied flat cgroup.
    const again = host({ cgroupNaming: { nested: true } });
    await again.launch(m);
    await serviceIn(nested);
    expect(existsSync(cpu(flat))).toBe(false);
    expect(existsSync(memory(flat))).toBe(false);
    await again.uninstall({ podId });
    expect(await findPodCgroups(hierarchy, {}, { node, pod: podId })).toEqual([]);
  });
});
