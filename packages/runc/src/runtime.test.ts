import { describe, expect, it } from 'vitest';
import { buildRuntimeSpec, type RuncError } from './index.js';

const ctx = {
  uid: 4001,
  gid: 4001,
  env: { CONFIG_PATH: '/data/pods/web/config/web.yaml', PATH: '/bin:/usr/bin' },
  mounts: [
    {
      source: '/data/pods/web/config/web.yaml',
      destination: '/data/pods/web/config/web.yaml',
      readonly: true,
    },
  ],
  cgroupsPath: '/web__app/container',
};
// The shape `@p2/oci-image`'s unpackImage returns: its user is ignored.
const image = {
  rootfs: '/var/lib/p2/images/web/rootfs',
  process: {
    args: ['/bin/httpd', '-f'],
    env: ['PATH=/sbin', 'LANG=C', 'CONFIG_PATH=/image'],
    cwd: '/srv',
    user: '0:0',
  },
};

/** The parts of the spec the tests look at. */
interface Spec {
  process: Record<string, unknown> & { capabilities: { bounding: string[] } };
  root: unknown;
  mounts: unknown[];
  hooks?: unknown;
  linux: {
    namespaces: unknown;
    cgroupsPath: string;
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

describe('buildRuntimeSpec', () => {
  const spec = buildRuntimeSpec(image, ctx) as unknown as Spec;

  it('runs the process as the pod user, with no new privileges and runc default capabilities', () => {
    expect(spec.process.user).toEqual({ uid: 4001, gid: 4001 });
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.process.terminal).toBe(false);
    expect(spec.process.capabilities.bounding).toEqual([
      'CAP_AUDIT_WRITE',
      'CAP_KILL',
      'CAP_NET_BIND_SERVICE',
    ]);
    expect(spec.process.args).toEqual(['/bin/httpd', '-f']);
    expect(spec.process.cwd).toBe('/srv');
  });

  it('gives the pod env precedence over the image env', () => {
    expect(spec.process.env).toEqual([
      'PATH=/bin:/usr/bin',
      'LANG=C',
      'CONFIG_PATH=/data/pods/web/config/web.yaml',
    ]);
  });

  it('mounts the root read-only and the config read-only, in its own pid/ipc/mount namespaces on the host network', () => {
    expect(spec.root).toEqual({ path: image.rootfs, readonly: true });
    expect(spec.mounts).toContainEqual({
      destination: '/data/pods/web/config/web.yaml',
      type: 'bind',
      source: '/data/pods/web/config/web.yaml',
      options: ['rbind', 'nosuid', 'nodev', 'ro'],
    });
    expect(spec.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }]);
    expect(spec.linux.cgroupsPath).toBe('/web__app/container');
    expect(spec.linux.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux.readonlyPaths).toContain('/proc/sys');
    expect(spec.hooks).toBeUndefined();
  });

  it('refuses root, a relative rootfs and a cgroup path with ..', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as RuncError).details.field;
      }
    };
    expect(code(() => buildRuntimeSpec(image, { ...ctx, uid: 0 }))).toBe('uid');
    expect(code(() => buildRuntimeSpec({ ...image, rootfs: 'rootfs' }, ctx))).toBe('rootfs');
    expect(code(() => buildRuntimeSpec(image, { ...ctx, cgroupsPath: '/a/../b' }))).toBe(
      'cgroupsPath',
    );
  });
});
