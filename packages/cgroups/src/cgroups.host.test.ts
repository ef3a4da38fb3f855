import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type Cgroup,
  type CgroupHierarchy,
  createCgroup,
  detectCgroups,
  findPodCgroups,
  listLaunchableCgroups,
  openCgroup,
  removePodCgroups,
} from './index.js';

const suffix = Math.random().toString(36).slice(2, 8);
const parentName = `p2t-cg-${suffix}`;
const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

function exited(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function parent(hierarchy: CgroupHierarchy): Promise<Cgroup> {
  const group = await createCgroup(hierarchy, { name: parentName });
  cleanups.push(() => group.remove({ kill: true }));
  return group;
}

describe('cgroup v1 (this host)', async () => {
  const hierarchy = await detectCgroups();

  it('detects v1 with cpu and memory', () => {
    expect(hierarchy.version).toBe(1);
  });

  it('creates a nested group with P2 limits, moves a process in, reads usage, removes it', async () => {
    if (hierarchy.version !== 1) return;
    await parent(hierarchy);
    const cgroup = await createCgroup(
      hierarchy,
      { parent: parentName, name: 'p2/h1/hello/app' },
      { cpus: 2, memory: 1024 * 1024 * 8 },
    );
    const mem = join(hierarchy.mounts.memory as string, parentName, 'p2/h1/hello/app');
    const cpu = join(hierarchy.mounts.cpu as string, parentName, 'p2/h1/hello/app');
    expect(await readFile(join(cpu, 'cpu.cfs_period_us'), 'utf8')).toBe('1000000\n');
    expect(await readFile(join(cpu, 'cpu.cfs_quota_us'), 'utf8')).toBe('2000000\n');
    expect(await readFile(join(mem, 'memory.soft_limit_in_bytes'), 'utf8')).toBe(
      `${8 * 2 ** 20}\n`,
    );
    expect(await readFile(join(mem, 'memory.limit_in_bytes'), 'utf8')).toBe(`${16 * 2 ** 20}\n`);
    expect(await readFile(join(mem, 'memory.memsw.limit_in_bytes'), 'utf8')).toBe(
      `${16 * 2 ** 20}\n`,
    );

    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await cgroup.addProcess(child.pid as number);
    const membership = await readFile(`/proc/${child.pid}/cgroup`, 'utf8');
    expect(membership).toMatch(new RegExp(`:memory:/${parentName}/p2/h1/hello/app\\n`));
    expect(membership).toMatch(new RegExp(`:cpu:/${parentName}/p2/h1/hello/app\\n`));
    expect(await cgroup.processes()).toEqual([child.pid]);
    const listed = await listLaunchableCgroups(hierarchy, { parent: parentName });
    expect(listed).toEqual([
      { node: 'h1', pod: 'hello', launchable: 'app', cgroup: 'p2/h1/hello/app' },
    ]);
    const usage = await cgroup.usage();
    expect(usage.processes).toBe(1);
    expect(usage.memoryBytes).toEqual(expect.any(Number)); // v1 does not move charges on migration
    expect(usage.cpuMicros).toBeGreaterThanOrEqual(0);
    expect(usage.oomKills).toBe(0);

    await expect(cgroup.remove()).rejects.toMatchObject({ code: 'P2_CGROUPS_BUSY' });
    await cgroup.remove({ kill: true });
    expect(await exited(child)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await cgroup.exists()).toBe(false);
  });

  it("finds and removes every cgroup of a pod in both forms, and no other pod's", async () => {
    await parent(hierarchy);
    const naming = { parent: parentName };
    for (const name of [
      'p2t-pod__app',
      'p2t-pod__web',
      'p2/h1/p2t-pod/app',
      'p2t-pod2__app',
      'p2t-pod-0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d__app',
      'p2/h1/p2t-pod2/app',
    ])
      await createCgroup(hierarchy, { parent: parentName, name });
    const found = await findPodCgroups(hierarchy, naming, { node: 'h1', pod: 'p2t-pod' });
    expect(found.map((c) => c.path).sort()).toEqual([
      `${parentName}/p2/h1/p2t-pod`,
      `${parentName}/p2t-pod__app`,
      `${parentName}/p2t-pod__web`,
    ]);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(sleeper);
    await openCgroup(hierarchy, { parent: parentName, name: 'p2/h1/p2t-pod/app' }).addProcess(
      sleeper.pid as number,
    );
    const removed = await removePodCgroups(hierarchy, naming, { node: 'h1', pod: 'p2t-pod' });
    expect(removed.sort()).toEqual(found.map((c) => c.path).sort());
    expect(await exited(sleeper)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await findPodCgroups(hierarchy, naming, { node: 'h1', pod: 'p2t-pod' })).toEqual([]);
    expect(
      await openCgroup(hierarchy, { parent: parentName, name: 'p2/h1/p2t-pod2/app' }).exists(),
    ).toBe(true);
  });

  it('OOM-kills a memory hog past its hard limit and counts it', async () => {
    await parent(hierarchy);
    const cgroup = await createCgroup(
      hierarchy,
      { parent: parentName, name: 'hog' },
      { memory: '16M' },
    );
    cleanups.push(() => cgroup.remove({ kill: true }));
    const procs = cgroup
      .procsFiles()
      .map((file) => `echo $$ > ${file}`)
      .join('; ');
    const hog = spawn('sh', ['-c', `${procs}; exec tail /dev/zero`], { stdio: 'ignore' });
    children.push(hog);
    expect(await exited(hog)).toEqual({ code: null, signal: 'SIGKILL' });
    const usage = await cgroup.usage();
    expect(usage.oomKills).toBeGreaterThanOrEqual(1);
    expect(usage.memoryPeakBytes).toBeLessThanOrEqual(32 * 2 ** 20);
  });

  it('refuses a missing parent with a coded error', async () => {
    await expect(
      createCgroup(hierarchy, { parent: `p2t-missing-${suffix}`, name: 'x' }),
    ).rejects.toMatchObject({
      code: 'P2_CGROUPS_PARENT_MISSING',
      message: expect.stringContaining(`p2t-missing-${suffix}`),
    });
  });
});

describe('cgroup v2 on a real cgroup2 mount (hugetlb only on this kernel)', () => {
  let mountPoint: string | undefined;
  afterAll(async () => {
    if (mountPoint === undefined) return;
    await openCgroup({ version: 2, root: mountPoint }, { name: parentName })
      .remove({ kill: true })
      .catch(() => undefined);
    execFileSync('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  it('creates, joins, reports unenforced limits, kills via cgroup.kill and removes', async () => {
    mountPoint = await mkdtemp(join(tmpdir(), 'p2t-cg2-'));
    execFileSync('mount', ['-t', 'cgroup2', 'none', mountPoint]);
    const hierarchy = { version: 2 as const, root: mountPoint };
    await createCgroup(hierarchy, { name: parentName });
    const cgroup = await createCgroup(hierarchy, { parent: parentName, name: 'p2/h1/hello/app' });
    expect(await cgroup.setLimits({ cpus: 1, memory: '64M' })).toEqual({
      unenforced: ['cpu', 'memory'],
    });
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await cgroup.addProcess(child.pid as number);
    expect(await readFile(`/proc/${child.pid}/cgroup`, 'utf8')).toContain(
      `0::/${parentName}/p2/h1/hello/app\n`,
    );
    expect((await cgroup.usage()).processes).toBe(1);
    await cgroup.remove({ kill: true });
    expect(await exited(child)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await cgroup.exists()).toBe(false);
  });
});
