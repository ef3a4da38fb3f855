/**
 * An OCI bundle around the host's static busybox (tests only): `rootfs/bin/busybox` with its
 * applets linked, and a `config.json` shaped like `runc spec`'s for a given user and command.
 */
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const APPLETS = [
  'sh',
  'pwd',
  'id',
  'cat',
  'ls',
  'sleep',
  'httpd',
  'nc',
  'echo',
  'touch',
  'head',
  'dd',
  'ps',
  'readlink',
  'true',
  'sed',
];

/** A `runc spec`-like config.json for `args` as `uid:gid`, with `patch` merged over the top level. */
export function busyboxConfig(
  user: { uid: number; gid: number },
  args: string[],
  patch: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid },
      args,
      env: ['PATH=/bin', 'FROM_BUNDLE=yes'],
      cwd: '/',
      capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }, { type: 'network' }],
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
    ...patch,
  };
}

/** Fills `rootfs` (created if missing) with busybox and its applets, and the usual mount points. */
export async function writeBusyboxRootfs(rootfs: string): Promise<void> {
  for (const sub of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc'])
    await mkdir(join(rootfs, sub), { recursive: true });
  await copyFile('/usr/bin/busybox', join(rootfs, 'bin/busybox'));
  for (const applet of APPLETS) await symlink('busybox', join(rootfs, 'bin', applet));
}

/** Writes a busybox bundle into `dir` (created) and returns `dir`. */
export async function writeBusyboxBundle(
  dir: string,
  config: Record<string, unknown>,
): Promise<string> {
  await writeBusyboxRootfs(join(dir, 'rootfs'));
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}
