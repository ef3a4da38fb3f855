import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createCgroup,
  findPodCgroups,
  launchableCgroupLocation,
  listLaunchableCgroups,
  openCgroup,
} from './index.js';

// A plain directory tree shaped like a cgroup2 mount: this kernel only gives a cgroup2 mount the
// hugetlb controller, so v2 cpu/memory file handling is checked here (see README).
let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'p2t-cg2mimic-'));
  await writeFile(
    join(root, 'cgroup.controllers'),
    'cpuset cpu io memory hugetlb pids rdma misc\n',
  );
  await writeFile(join(root, 'cgroup.subtree_control'), '');
  await mkdir(join(root, 'system.slice'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const read = (path: string) => readFile(join(root, path), 'utf8');

describe('cgroup v2 on a mimic tree', () => {
  it('enables controllers down the path and writes v2 limit files', async () => {
    const hierarchy = { version: 2 as const, root };
    const cgroup = await createCgroup(
      hierarchy,
      { parent: 'system.slice', name: 'p2/h1/hello/app' },
      { cpus: 1.5, memory: '64M' },
    );
    for (const dir of [
      '',
      'system.slice',
      'system.slice/p2',
      'system.slice/p2/h1',
      'system.slice/p2/h1/hello',
    ])
      expect((await read(join(dir, 'cgroup.subtree_control'))).trim()).toBe('+cpu +memory +pids');
    const dir = 'system.slice/p2/h1/hello/app';
    expect(await read(`${dir}/cpu.max`)).toBe('1500000 1000000\n');
    expect(await read(`${dir}/memory.max`)).toBe(`${128 * 2 ** 20}\n`);
    expect(await read(`${dir}/memory.swap.max`)).toBe('0\n');
    expect(cgroup.procsFiles()).toEqual([join(root, dir, 'cgroup.procs')]);

    const applied = await cgroup.setLimits({});
    expect(applied.unenforced).toEqual([]);
    expect(await read(`${dir}/cpu.max`)).toBe('max 1000000\n');
    expect(await read(`${dir}/memory.max`)).toBe('max\n');
  });

  it('reports controllers the hierarchy lacks instead of failing', async () => {
    await writeFile(join(root, 'cgroup.controllers'), 'hugetlb\n');
    const cgroup = await createCgroup({ version: 2, root }, { name: 'p2t-x' });
    expect(await cgroup.setLimits({ cpus: 1, memory: 1024 })).toEqual({
      unenforced: ['cpu', 'memory'],
    });
  });

  it('reads usage from v2 files', async () => {
    const cgroup = await createCgroup({ version: 2, root }, { name: 'p2t-usage' });
    const dir = join(root, 'p2t-usage');
    await writeFile(join(dir, 'memory.current'), '4096\n');
    await writeFile(join(dir, 'memory.peak'), '8192\n');
    await writeFile(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    await writeFile(
      join(dir, 'cpu.stat'),
      'usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 5\nnr_throttled 2\n',
    );
    await writeFile(join(dir, 'cgroup.procs'), '');
    expect(await cgroup.usage()).toEqual({
      memoryBytes: 4096,
      memoryPeakBytes: 8192,
      oomKills: 1,
      cpuMicros: 1234,
      throttledPeriods: 2,
      processes: 0,
    });
  });

  it('refuses a parent that does not exist and removes what it created', async () => {
    await expect(
      createCgroup({ version: 2, root }, { parent: 'nope.slice', name: 'x' }),
    ).rejects.toMatchObject({
      code: 'P2_CGROUPS_PARENT_MISSING',
    });
    const cgroup = await createCgroup({ version: 2, root }, { name: 'p2/h1/gone' }, { cpus: 1 });
    await cgroup.remove();
    expect(await cgroup.exists()).toBe(false);
    await openCgroup({ version: 2, root }, { name: 'p2/h1/gone' }).remove();
  });
});

describe('listLaunchableCgroups', () => {
  it('finds nested and flat launchable groups that have processes', async () => {
    const hierarchy = { version: 2 as const, root };
    for (const [path, procs] of [
      ['p2/h1/hello/app', '123\n'],
      ['p2/h1/hello/idle', ''],
      ['p2/h2/other/web', '7\n8\n'],
      ['legacy__worker', '9\n'],
      ['system.slice/unrelated', '1\n'],
    ] as const) {
      await mkdir(join(root, path), { recursive: true });
      await writeFile(join(root, path, 'cgroup.procs'), procs);
    }
    expect(await listLaunchableCgroups(hierarchy)).toEqual([
      { node: '', pod: 'legacy', launchable: 'worker', cgroup: 'legacy__worker' },
      { node: 'h1', pod: 'hello', launchable: 'app', cgroup: 'p2/h1/hello/app' },
      { node: 'h2', pod: 'other', launchable: 'web', cgroup: 'p2/h2/other/web' },
    ]);
  });
});

describe('naming on v2 (mimic tree)', () => {
  it('puts a flat or nested launchable cgroup below the configured parent, and finds both', async () => {
    const hierarchy = { version: 2 as const, root };
    const ids = { node: 'h1', pod: 'hello', launchable: 'app' };
    const flat = await createCgroup(
      hierarchy,
      launchableCgroupLocation({ parent: 'system.slice' }, ids),
      { cpus: 1 },
    );
    expect(flat.path).toBe('system.slice/hello__app');
    expect(await readFile(join(root, 'system.slice/hello__app/cpu.max'), 'utf8')).toBe(
      '1000000 1000000\n',
    );
    const nested = await createCgroup(
      hierarchy,
      launchableCgroupLocation({ parent: 'system.slice', nested: true }, ids),
    );
    expect(nested.path).toBe('system.slice/p2/h1/hello/app');
    const found = await findPodCgroups(hierarchy, { parent: 'system.slice' }, ids);
    expect(found.map((c) => c.path).sort()).toEqual([
      'system.slice/hello__app',
      'system.slice/p2/h1/hello',
    ]);
  });
});
