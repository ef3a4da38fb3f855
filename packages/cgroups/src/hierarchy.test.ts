import { describe, expect, it } from 'vitest';
import {
  hierarchyFromMountinfo,
  launchableCgroupCandidates,
  launchableCgroupLocation,
  normalizeCgroupPath,
  openCgroup,
  podCgroupLocation,
} from './index.js';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

const COMOUNTED = `25 22 0:22 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct
26 22 0:23 / /sys/fs/cgroup/memory rw shared:10 - cgroup cgroup rw,memory`;

const UNIFIED = `29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

describe('hierarchy detection', () => {
  it('prefers v1 on hybrid hosts (this machine)', () => {
    expect(hierarchyFromMountinfo(HYBRID)).toEqual({
      version: 1,
      mounts: {
        cpu: '/sys/fs/cgroup/cpu',
        cpuacct: '/sys/fs/cgroup/cpuacct',
        memory: '/sys/fs/cgroup/memory',
        pids: '/sys/fs/cgroup/pids',
      },
    });
  });

  it('handles co-mounted controllers and joins each directory once', () => {
    const hierarchy = hierarchyFromMountinfo(COMOUNTED);
    expect(hierarchy).toEqual({
      version: 1,
      mounts: {
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        memory: '/sys/fs/cgroup/memory',
      },
    });
    expect(openCgroup(hierarchy, { name: 'p2/h1/hello/app' }).procsFiles()).toEqual([
      '/sys/fs/cgroup/cpu,cpuacct/p2/h1/hello/app/cgroup.procs',
      '/sys/fs/cgroup/memory/p2/h1/hello/app/cgroup.procs',
    ]);
  });

  it('detects pure v2', () => {
    expect(hierarchyFromMountinfo(UNIFIED)).toEqual({ version: 2, root: '/sys/fs/cgroup' });
  });

  it('fails clearly without cgroups or on garbage', () => {
    expect(() => hierarchyFromMountinfo('22 1 0:21 / /proc rw - proc proc rw')).toThrow(
      expect.objectContaining({ code: 'P2_CGROUPS_UNSUPPORTED' }),
    );
    expect(() => hierarchyFromMountinfo('not a mountinfo line')).toThrow(
      expect.objectContaining({ code: 'P2_CGROUPS_MOUNTINFO' }),
    );
  });

  it('names cgroups like P2 (flat by default, nested on request) and refuses unusable names', () => {
    const ids = { node: 'h1', pod: 'hello', launchable: 'app' };
    expect(launchableCgroupLocation({}, ids)).toEqual({ parent: '', name: 'hello__app' });
    // A uuid pod's unique name, as its home and runit services.
    const uuid = 'hello-0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    expect(launchableCgroupLocation({ nested: false }, { ...ids, pod: uuid }).name).toBe(
      `${uuid}__app`,
    );
    expect(launchableCgroupLocation({ nested: true }, ids)).toEqual({
      parent: '',
      name: 'p2/h1/hello/app',
    });
    expect(launchableCgroupLocation({ nested: true, parent: 'p2.slice' }, ids)).toEqual({
      parent: 'p2.slice',
      name: 'p2/h1/hello/app',
    });
    expect(podCgroupLocation({ nested: true }, { node: 'h1', pod: 'hello' }).name).toBe(
      'p2/h1/hello',
    );
    // Where a host that changed its naming may still have the launchable's cgroup, own form first.
    const where = (l: { parent?: string; name: string }) => `${l.parent}:${l.name}`;
    expect(launchableCgroupCandidates({}, ids).map(where)).toEqual([
      ':hello__app',
      ':p2/h1/hello/app',
    ]);
    expect(launchableCgroupCandidates({ nested: true, parent: 'x' }, ids).map(where)).toEqual([
      'x:p2/h1/hello/app',
      'x:hello__app',
      ':p2/h1/hello/app',
      ':hello__app',
    ]);
    expect(normalizeCgroupPath('/p2.slice/')).toBe('p2.slice');
    expect(normalizeCgroupPath('')).toBe('');
    for (const bad of ['a/../b', 'a//b', 'cpu.max', 'a b'])
      expect(() => normalizeCgroupPath(bad)).toThrow(
        expect.objectContaining({ code: 'P2_CGROUPS_INVALID_NAME' }),
      );
    // An id with "/" would put the cgroup somewhere else.
    for (const bad of [{ pod: 'a/b' }, { launchable: '../x' }, { node: 'n/1' }])
      expect(() => launchableCgroupLocation({ nested: true }, { ...ids, ...bad })).toThrow(
        expect.objectContaining({ code: 'P2_CGROUPS_INVALID_NAME' }),
      );
    const v2 = { version: 2 as const, root: '/sys/fs/cgroup' };
    for (const name of ['../escape', 'a//b', '', 'p2/memory.max', 'a b', '/abs'])
      expect(() => openCgroup(v2, { name })).toThrow(
        expect.objectContaining({ code: 'P2_CGROUPS_INVALID_NAME' }),
      );
    expect(() => openCgroup(v2, { parent: '..', name: 'x' })).toThrow(
      expect.objectContaining({ code: 'P2_CGROUPS_INVALID_NAME' }),
    );
  });
});
