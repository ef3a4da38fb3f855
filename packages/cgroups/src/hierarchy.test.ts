import { describe, expect, it } from 'vitest';
import { cgroupName, hierarchyFromMountinfo, openCgroup } from './index.js';

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

  it('names cgroups like P2 and refuses unusable names', () => {
    expect(cgroupName({ node: 'h1', pod: 'hello', launchable: 'app' })).toBe('p2/h1/hello/app');
    expect(cgroupName({ node: 'h1', pod: 'hello' })).toBe('p2/h1/hello');
    expect(cgroupName({ node: 'h1', pod: 'hello', launchable: 'app', nested: false })).toBe(
      'hello__app',
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
