/**
 * `launchable_type: opencontainer` (spec 02 §2.14): the artifact is an OCI bundle (`config.json` +
 * `rootfs/`) or an OCI image layout (see ./container-image.ts), installed like a hoist artifact (root's, read-only to the pod) and checked at install
 * against the pod policy of `@p2/runc`. At launch p2 writes the runtime spec runc gets — built from
 * the checked bundle, never the bundle's own file — and a run script into a root-only directory
 * (`<specDir>/<pod>/<launchable>/`), and one runit service `<pod>__<launchable>__container` execs
 * `runc run` (as root: runc drops to the pod's user itself). The container joins a child of the
 * launchable's cgroup, so the manifest's limits apply to it.
 */
import { existsSync } from 'node:fs';
import { readdir, realpath, rmdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { P2_CONTROLLERS } from '@p2/cgroups';
import { installDirName } from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import { isImageLayout } from '@p2/oci-image';
import {
  assertContainerId,
  type BundleAllowance,
  buildRuntimeSpec,
  type CheckedBundle,
  checkBundleSpec,
  DEFAULT_RUNC_ROOT,
  deleteContainer,
  killContainer,
  RuncError,
  runArgv,
} from '@p2/runc';
import { type ServiceSpec, shellQuote } from '@p2/runit';
import { readTrustedFile, removeTree, writeFileAtomic } from '@p2/secure-fs';
import { containerDir, imageBundle, specRoot } from './container-image.js';
import { PodError, PodErrorCode } from './errors.js';
import { isReadOnly } from './install.js';
import type { PodLayout } from './layout.js';
import { launchableCgroupOf } from './pod-cgroups.js';
import { podEnvironment } from './pod-env.js';
import type { HostContext, PodUser } from './types.js';

/** How this host runs container pods (the preparer's `opencontainer:` and `params.runc_path`). */
export interface ContainerOptions {
  /** The runc binary. @default the first `runc` in /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin */
  runcPath?: string;
  /** runc's state directory. @default '/run/p2/runc' */
  runcRoot?: string;
  /** Where p2 writes each container's runtime spec and run script (root's alone). @default '/var/lib/p2/containers' */
  specDir?: string;
  /** Bundle fields allowed beyond the default policy. @default [] */
  allow?: BundleAllowance[];
}

/** The entry point name of a container launchable's one service (P2's `__container`). */
export const CONTAINER_ENTRY = 'container';

/** True when the launchable is an OCI bundle run by runc. @internal */
export function isContainer(manifest: Manifest, launchableId: string): boolean {
  return manifest.launchables[launchableId]?.launchableType === 'opencontainer';
}

function runcOptions(ctx: HostContext): { runcPath: string; root: string } {
  const configured = ctx.options.containers?.runcPath;
  const runcPath =
    configured && isAbsolute(configured)
      ? configured
      : (['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']
          .map((dir) => join(dir, configured ?? 'runc'))
          .find((path) => existsSync(path)) ?? '/usr/local/bin/runc');
  return { runcPath, root: ctx.options.containers?.runcRoot ?? DEFAULT_RUNC_ROOT };
}

/**
 * Reads and checks an installed bundle against the pod policy (and the host's allowances); an
 * installed image layout is unpacked (once per version) and its process taken instead.
 * @throws PodError `P2_PODS_CONTAINER_REFUSED` naming the field (`details.field`)
 * @internal
 */
export async function checkInstalledBundle(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
  launchableId: string,
  user: Pick<PodUser, 'uid' | 'gid'> & { name?: string },
): Promise<CheckedBundle> {
  const installDir = join(
    layout.installsDir(launchableId),
    installDirName(launchableId, manifest.launchableVersion(launchableId)),
  );
  if (await isImageLayout(installDir))
    return imageBundle(ctx, manifest, layout, launchableId, installDir, user);
  const refused = (field: string, message: string, cause?: unknown, hint?: string) =>
    new PodError(
      PodErrorCode.CONTAINER_REFUSED,
      `pod ${manifest.id}: launchable ${launchableId}: ${message}`,
      {
        cause,
        details: { pod: manifest.id, launchable: launchableId, field },
        ...(hint ? { hint } : {}),
      },
    );
  const allow = ctx.options.containers?.allow ?? [];
  try {
    // The install is root's (the pod cannot write it): read without following links.
    const text = await readTrustedFile(join(installDir, 'config.json'), { maxBytes: 1 << 20 });
    if (text === undefined) throw refused('config.json', 'the bundle has no config.json');
    let spec: unknown;
    try {
      spec = JSON.parse(text.toString('utf8'));
    } catch (error) {
      throw refused('config.json', 'config.json is not JSON', error);
    }
    const checked = checkBundleSpec(
      spec,
      { uid: user.uid, gid: user.gid, podHome: layout.home, bundleDir: installDir },
      allow,
    );
    // A link in the tarball must not take the root file system out of the bundle.
    const real = await realpath(checked.rootfs).catch(() => undefined);
    if (real === undefined) throw refused('root.path', 'the root file system does not exist');
    if (!allow.includes('root_path') && !real.startsWith(`${await realpath(installDir)}/`))
      throw refused('root.path', 'the root file system is a link out of the bundle');
    return checked;
  } catch (error) {
    if (error instanceof PodError) throw error;
    if (error instanceof RuncError) {
      throw refused(String(error.details.field ?? 'config.json'), error.message, error, error.hint);
    }
    throw error;
  }
}

/**
 * Writes a container launchable's runtime spec and run script (root's alone) and returns its runit
 * service, with `base`'s log, finish and restart settings.
 * @internal
 */
export async function containerServiceSpec(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
  launchableId: string,
  user: PodUser,
  base: Omit<ServiceSpec, 'entryPoint' | 'user'>,
): Promise<ServiceSpec> {
  const checked = await checkInstalledBundle(ctx, manifest, layout, launchableId, user);
  const readOnly = isReadOnly(ctx.options, manifest);
  const env = podEnvironment(manifest, layout, readOnly);
  const location = launchableCgroupOf(ctx, layout, launchableId);
  const cgroupsPath = `/${[location.parent, location.name, 'container'].filter(Boolean).join('/')}`;
  const spec = buildRuntimeSpec(checked, {
    uid: user.uid,
    gid: user.gid,
    env: { ...env.pod, ...env.launchable(launchableId) },
    mounts: [
      // The pod's config files, read-only at the paths its env names.
      ...env.files.map((file) => {
        const path = join(layout.configDir, file.name);
        return { source: path, destination: path, readonly: true };
      }),
      ...(readOnly
        ? []
        : [{ source: layout.dataDir, destination: layout.dataDir, readonly: false }]),
    ],
    cgroupsPath,
  });
  const dir = await containerDir(ctx, layout, launchableId);
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`, {
    mode: 0o600,
  });
  const runc = runcOptions(ctx);
  const id = layout.serviceId(launchableId);
  const [file, ...args] = runArgv(runc, dir, id);
  const script = [
    '#!/bin/sh',
    `# Generated by @p2/pods for container ${id}. Do not edit: p2 rewrites it.`,
    // A runc that was killed leaves its container's state behind; `run` would refuse the id.
    `${shellQuote(runc.runcPath)} --root ${shellQuote(runc.root)} delete --force ${shellQuote(id)} >/dev/null 2>&1`,
    `exec ${[file as string, ...args].map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
  const run = join(dir, 'run');
  await writeFileAtomic(run, script, { mode: 0o700 });
  return {
    ...base,
    entryPoint: run,
    entryPointEnv: CONTAINER_ENTRY,
    // runc runs as root and drops to the pod's user itself; nothing of the pod's is read before.
    user: 'root',
    envDirs: [],
    workingDir: dir,
    cgroupProcsFiles: [],
  };
}

/**
 * The argv that runs `command` inside a container launchable's running container (`runc exec`):
 * the container's own process settings — the pod's user, env, capabilities, no new privileges,
 * namespaces and cgroup — with this command. @internal
 */
export function containerExecArgv(
  ctx: HostContext,
  layout: PodLayout,
  launchableId: string,
  command: readonly string[],
): string[] {
  const runc = runcOptions(ctx);
  const id = layout.serviceId(launchableId);
  return [runc.runcPath, '--root', runc.root, 'exec', assertContainerId(id), ...command];
}

/**
 * After its service stopped: kills what is left of a container (`runc kill KILL`) and deletes it.
 * @internal
 */
export async function stopContainer(
  ctx: HostContext,
  layout: PodLayout,
  launchableId: string,
): Promise<void> {
  const runc = runcOptions(ctx);
  const id = layout.serviceId(launchableId);
  await killContainer(runc, id, 'KILL', { all: true });
  await deleteContainer(runc, id, { force: true });
}

/**
 * Removes a pod's container specs and the cgroup directories runc made for its containers in the
 * controllers p2 does not manage (cgroup v1 mounts each apart; p2 removes its own). Only the pod's
 * own levels go, never a parent other pods share (`p2/<node>` of the nested naming). @internal
 */
export async function removeContainerLeftovers(
  ctx: HostContext,
  layout: PodLayout,
  launchableIds: readonly string[],
): Promise<void> {
  await removeTree(join(specRoot(ctx), layout.uniqueName));
  const hierarchy = ctx.options.cgroups;
  if (hierarchy === false || hierarchy.version !== 1) return;
  const managed = new Set<string>(P2_CONTROLLERS);
  const mounts = (await readdir('/sys/fs/cgroup').catch(() => [] as string[])).filter(
    (mount) => !mount.split(',').some((controller) => managed.has(controller)),
  );
  for (const launchableId of launchableIds) {
    const location = launchableCgroupOf(ctx, layout, launchableId);
    const segments = location.name.split('/');
    // Flat `<pod>__<launchable>`; nested `p2/<node>/<pod>/<launchable>`, whose first two are shared.
    const shared = segments.length > 1 ? 2 : 0;
    for (const mount of mounts) {
      const base = join('/sys/fs/cgroup', mount, location.parent ?? '');
      // Leaf first; a directory still in use (or not empty) stays.
      const paths = [join(base, location.name, 'container')];
      for (let i = segments.length; i > shared; i--)
        paths.push(join(base, ...segments.slice(0, i)));
      for (const path of paths) await rmdir(path).catch(() => undefined);
    }
  }
}
