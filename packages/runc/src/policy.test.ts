import { describe, expect, it } from 'vitest';
import { busyboxConfig } from '../../../test-support/busybox-bundle.js';
import { type BundleAllowance, checkBundleSpec, hostHardLimits, RuncError } from './index.js';

const ctx = {
  uid: 4001,
  gid: 4001,
  groups: [4001, 4002],
  podHome: '/data/pods/web',
  bundleDir: '/data/pods/web/app/installs/app_v1',
  hostRlimits: { RLIMIT_NOFILE: 4096 },
};
const base = () => busyboxConfig({ uid: 4001, gid: 4001 }, ['/bin/sh', '-c', 'sleep 1']);
type Config = ReturnType<typeof base> & {
  process: Record<string, unknown>;
  linux: Record<string, unknown>;
};
const config = (edit: (c: Config) => void) => {
  const c = structuredClone(base()) as Config;
  edit(c);
  return c;
};

function refusal(spec: unknown, allow: BundleAllowance[] = []): RuncError {
  try {
    checkBundleSpec(spec, ctx, allow);
  } catch (error) {
    if (error instanceof RuncError) return error;
    throw error;
  }
  throw new Error('the bundle was accepted');
}

describe('checkBundleSpec', () => {
  it('accepts a runc-spec-like bundle for the pod user and returns its process and rootfs', () => {
    expect(checkBundleSpec(base(), ctx)).toEqual({
      rootfs: '/data/pods/web/app/installs/app_v1/rootfs',
      process: {
        args: ['/bin/sh', '-c', 'sleep 1'],
        env: ['PATH=/bin', 'FROM_BUNDLE=yes'],
        cwd: '/',
      },
      extras: {},
    });
  });

  // Each refused field: the code, the JSON path of the field, and the allowance that would let it in.
  const refused: Array<[string, (c: Config) => void, string, BundleAllowance | undefined]> = [
    [
      'another uid',
      (c) => {
        (c.process.user as { uid: number }).uid = 0;
      },
      'process.user.uid',
      'other_user',
    ],
    [
      'another gid',
      (c) => {
        (c.process.user as { gid: number }).gid = 0;
      },
      'process.user.gid',
      'other_user',
    ],
    [
      'no user at all (root)',
      (c) => {
        delete c.process.user;
      },
      'process.user.uid',
      'other_user',
    ],
    [
      'a group the pod lacks',
      (c) => {
        c.process.user = { uid: 4001, gid: 4001, additionalGids: [4002, 0] };
      },
      'process.user.additionalGids[1]',
      'other_user',
    ],
    [
      'a capability beyond the default',
      (c) => {
        c.process.capabilities = {
          bounding: ['CAP_KILL', 'CAP_AUDIT_WRITE', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN'],
        };
      },
      'process.capabilities.bounding[3]',
      'capabilities',
    ],
    [
      'an ambient capability beyond the default',
      (c) => {
        c.process.capabilities = { ambient: ['CAP_NET_RAW'] };
      },
      'process.capabilities.ambient[0]',
      'capabilities',
    ],
    [
      'prestart hooks',
      (c) => {
        c.hooks = { prestart: [{ path: '/bin/sh' }] };
      },
      'hooks.prestart',
      'hooks',
    ],
    [
      'a bind mount of a host path',
      (c) => {
        c.mounts = [
          { destination: '/proc', type: 'proc', source: 'proc' },
          { destination: '/x', type: 'none', source: '/data/pods/other', options: ['rbind'] },
          { destination: '/etc/host', type: 'bind', source: '/etc' },
        ];
      },
      'mounts[1].source',
      'host_mounts',
    ],
    [
      'a bind mount escaping the home with ..',
      (c) => {
        c.mounts = [{ destination: '/x', type: 'bind', source: '/data/pods/web/../../../etc' }];
      },
      'mounts[0].source',
      'host_mounts',
    ],
    [
      'an unknown mount type',
      (c) => {
        c.mounts = [{ destination: '/x', type: 'overlay', source: 'overlay' }];
      },
      'mounts[0].type',
      undefined,
    ],
    [
      'no pid namespace',
      (c) => {
        c.linux.namespaces = [{ type: 'ipc' }, { type: 'mount' }];
      },
      'linux.namespaces',
      'host_pid',
    ],
    [
      'no ipc namespace',
      (c) => {
        c.linux.namespaces = [{ type: 'pid' }, { type: 'mount' }];
      },
      'linux.namespaces',
      'host_ipc',
    ],
    [
      'no mount namespace',
      (c) => {
        c.linux.namespaces = [{ type: 'pid' }, { type: 'ipc' }];
      },
      'linux.namespaces',
      'host_mount_namespace',
    ],
    [
      'joining a namespace by path',
      (c) => {
        c.linux.namespaces = [{ type: 'pid', path: '/proc/1/ns/pid' }];
      },
      'linux.namespaces[0].path',
      undefined,
    ],
    [
      'a user namespace',
      (c) => {
        c.linux.namespaces = [
          { type: 'pid' },
          { type: 'ipc' },
          { type: 'mount' },
          { type: 'user' },
        ];
      },
      'linux.namespaces[3]',
      'user_namespace',
    ],
    [
      'uid mappings',
      (c) => {
        c.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
      },
      'linux.uidMappings',
      'user_namespace',
    ],
    [
      'a device',
      (c) => {
        c.linux.devices = [{ path: '/dev/sda', type: 'b', major: 8, minor: 0 }];
      },
      'linux.devices[0]',
      'devices',
    ],
    [
      'a device cgroup rule that allows',
      (c) => {
        c.linux.resources = {
          devices: [
            { allow: false, access: 'rwm' },
            { allow: true, access: 'rwm' },
          ],
        };
      },
      'linux.resources.devices[1]',
      'devices',
    ],
    [
      'resource limits of its own',
      (c) => {
        c.linux.resources = { memory: { limit: 1 } };
      },
      'linux.resources.memory',
      undefined,
    ],
    [
      'a sysctl',
      (c) => {
        c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
      },
      'linux.sysctl.<unknown key>',
      'sysctl',
    ],
    [
      'noNewPrivileges false',
      (c) => {
        c.process.noNewPrivileges = false;
      },
      'process.noNewPrivileges',
      'new_privileges',
    ],
    [
      'a root outside the bundle',
      (c) => {
        c.root = { path: '/', readonly: false };
      },
      'root.path',
      'root_path',
    ],
    [
      'a root escaping the bundle with ..',
      (c) => {
        c.root = { path: '../../../../..' };
      },
      'root.path',
      'root_path',
    ],
    [
      'an rlimit above the host',
      (c) => {
        c.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 8192, soft: 1024 }];
      },
      'process.rlimits[0]',
      'rlimits',
    ],
    [
      'a negative oomScoreAdj',
      (c) => {
        c.process.oomScoreAdj = -1000;
      },
      'process.oomScoreAdj',
      'oom_score_adj',
    ],
    [
      'a terminal',
      (c) => {
        c.process.terminal = true;
      },
      'process.terminal',
      undefined,
    ],
    [
      'shared rootfs propagation',
      (c) => {
        c.linux.rootfsPropagation = 'shared';
      },
      'linux.rootfsPropagation',
      undefined,
    ],
    [
      'an unknown linux field',
      (c) => {
        c.linux.intelRdt = { closID: 'x' };
      },
      'linux.intelRdt',
      undefined,
    ],
    [
      'an unknown top-level field',
      (c) => {
        (c as Record<string, unknown>).solaris = {};
      },
      'solaris',
      undefined,
    ],
  ];
  for (const [what, edit, field, allowance] of refused) {
    it(`refuses ${what} (${field})`, () => {
      const error = refusal(config(edit));
      expect(error.code).toBe('P2_RUNC_BUNDLE_REFUSED');
      expect(error.details.field).toBe(field);
      expect(error.message).toContain(field);
      expect(error.details.allowance).toBe(allowance);
      if (allowance) {
        expect(error.hint).toContain(`allow: [${allowance}]`);
        // The host's explicit allowance lets exactly that field in.
        expect(() => checkBundleSpec(config(edit), ctx, [allowance])).not.toThrow();
      }
    });
  }

  it('never puts a value from the file in a message', () => {
    const error = refusal(
      config((c) => {
        c.linux['$(rm -rf /)'] = 1;
      }),
    );
    expect(error.message).not.toContain('rm -rf');
    expect(error.details.field).toBe('linux.<unknown key>');
  });

  it('passes allowed extras on: capabilities, host namespaces, hooks', () => {
    const checked = checkBundleSpec(
      config((c) => {
        c.process.capabilities = { bounding: ['CAP_SYS_ADMIN'] };
        c.linux.namespaces = [{ type: 'ipc' }, { type: 'mount' }];
        c.hooks = { poststop: [{ path: '/bin/true' }] };
      }),
      ctx,
      ['capabilities', 'host_pid', 'hooks'],
    );
    expect(checked.extras).toMatchObject({
      capabilities: { bounding: ['CAP_SYS_ADMIN'] },
      hostNamespaces: ['pid'],
      hooks: { poststop: [{ path: '/bin/true' }] },
    });
  });

  it('takes bind mounts from the pod home and refuses a malformed config', () => {
    const checked = checkBundleSpec(
      config((c) => {
        c.mounts = [
          {
            destination: '/data',
            type: 'bind',
            source: '/data/pods/web/data',
            options: ['rbind', 'ro'],
          },
        ];
      }),
      ctx,
    );
    expect(checked.extras.mounts).toEqual([
      { source: '/data/pods/web/data', destination: '/data', readonly: true },
    ]);
    expect(refusal('[]').code).toBe('P2_RUNC_INVALID_BUNDLE');
    expect(
      refusal(
        config((c) => {
          c.process.args = [];
        }),
      ).details.field,
    ).toBe('process.args');
  });
});

describe('hostHardLimits', () => {
  it('reads hard limits by RLIMIT name', () => {
    const text =
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\nMax core file size        0                    unlimited            bytes\n';
    expect(hostHardLimits(text)).toEqual({
      RLIMIT_NOFILE: 524288,
      RLIMIT_CORE: Number.POSITIVE_INFINITY,
    });
    expect(hostHardLimits().RLIMIT_NOFILE).toBeGreaterThan(0);
  });
});
