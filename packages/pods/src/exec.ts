/**
 * A command run in one of a pod's launchables the way its services run (P2's p2-exec, as `p2 exec`
 * uses it): as the pod's user, in the launchable's cgroup, in its install directory, with the open
 * files limit lifted, the host's require file checked, and the pod and launchable env dirs loaded
 * after the privilege drop — by the very chain its runit `run` script uses (`@p2/runit`'s
 * `renderRunAs`). Root never reads the env dirs. In a container launchable the command runs inside
 * its running container (`runc exec`), as the container's process does.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { installDirName } from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import { readServiceSpec, renderRunAs } from '@p2/runit';
import { containerExecArgv, isContainer } from './container.js';
import { PodError, PodErrorCode } from './errors.js';
import { assertTrustedHome } from './home.js';
import { serviceNamesByLaunchable } from './inventory.js';
import { PodLayout } from './layout.js';
import { existingCgroupProcs, launchableCgroups } from './pod-cgroups.js';
import { ROOT_PATH } from './scripts.js';
import type { HostContext, PodUser } from './types.js';

/** What {@link PodHost.execPlan} plans. */
export interface ExecOptions {
  /** A uuid pod's unique key; empty for a legacy pod. @default '' */
  uniqueKey?: string;
  /** The launchable whose environment, cgroup and directory are used. @default the pod's only one */
  launchableId?: string;
  /** The command and its arguments; a command without `/` is found on the pod's PATH. */
  command: readonly string[];
}

/**
 * How to run the command: spawn `file` with `args` and `env` (and the caller's stdio). The process
 * becomes the command, so its exit status is the command's.
 */
export interface ExecPlan {
  pod: string;
  launchableId: string;
  /** The account the command runs as. */
  user: PodUser;
  /** The launchable's install directory of the running version (the command's working directory). */
  workingDir: string;
  /** The cgroup the command joins (none when the host has no cgroups). */
  cgroupProcsFiles: string[];
  /** The require file that was checked, when the host has one. */
  requireFile?: string;
  file: string;
  args: string[];
  /** The root shell's whole environment (no variable of the caller's reaches the command). */
  env: Record<string, string>;
}

function chooseLaunchable(manifest: Manifest, wanted: string | undefined): string {
  const ids = Object.keys(manifest.launchables);
  if (wanted !== undefined && ids.includes(wanted)) return wanted;
  if (wanted === undefined && ids.length === 1) return ids[0] as string;
  throw new PodError(
    PodErrorCode.NO_SUCH_LAUNCHABLE,
    wanted === undefined
      ? `pod ${manifest.id} has ${ids.length === 0 ? 'no launchable' : `${ids.length} launchables`}: say which one`
      : `pod ${manifest.id} has no launchable ${JSON.stringify(wanted)}`,
    {
      hint:
        ids.length > 0 ? `choose one of: ${ids.join(', ')}` : 'deploy a manifest with a launchable',
      details: { pod: manifest.id, launchables: ids },
    },
  );
}

/**
 * The require file the launchable's run scripts check: the host's, else the one recorded with its
 * services (so a command runs under the same guard as the services do).
 */
async function requireFileOf(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
  launchableId: string,
): Promise<string | undefined> {
  if (ctx.options.requireFile) return ctx.options.requireFile;
  const root = ctx.options.runsvdir.root;
  const names = (await serviceNamesByLaunchable(root, manifest, layout)).get(launchableId) ?? [];
  for (const name of names) {
    const recorded = await readServiceSpec(join(root, name));
    if (recorded?.requireFile) return recorded.requireFile;
  }
  return undefined;
}

/**
 * Plans a command in a launchable of an installed pod (see {@link PodHost.execPlan}).
 * @internal
 */
export async function planExec(
  ctx: HostContext,
  manifest: Manifest,
  options: ExecOptions,
): Promise<ExecPlan> {
  const [command, ...args] = options.command;
  if (command === undefined)
    throw new PodError(PodErrorCode.EXEC_INVALID, 'no command to run', {
      hint: 'give the command after --',
    });
  const layout = new PodLayout(ctx.podRoot, manifest.id, options.uniqueKey ?? '');
  const launchableId = chooseLaunchable(manifest, options.launchableId);
  await assertTrustedHome(manifest, layout);
  // The host's run_as policy, as for a launch: a pod may not get root (or another pod's user) here.
  const account = await ctx.accounts.checkRunAs(manifest);
  if (!account)
    throw new PodError(
      PodErrorCode.NOT_INSTALLED,
      `pod ${manifest.id} runs as ${manifest.runAs}, and no such user exists on this host`,
      { hint: 'deploy the pod again: its user is created when it is installed' },
    );
  const workingDir = join(
    layout.installsDir(launchableId),
    installDirName(launchableId, manifest.launchableVersion(launchableId)),
  );
  if (!existsSync(workingDir))
    throw new PodError(
      PodErrorCode.NOT_INSTALLED,
      `pod ${manifest.id}: launchable ${launchableId} is not installed (${workingDir})`,
      { hint: 'deploy the pod again', details: { pod: manifest.id, launchable: launchableId } },
    );
  const requireFile = await requireFileOf(ctx, manifest, layout, launchableId);
  if (isContainer(manifest, launchableId)) {
    // Inside the running container, as its process runs (user, env, namespaces, cgroup).
    const [file, ...runcArgs] = containerExecArgv(ctx, layout, launchableId, options.command);
    return {
      pod: manifest.id,
      launchableId,
      user: { name: manifest.runAs, uid: account.uid, gid: account.gid },
      workingDir,
      cgroupProcsFiles: [],
      ...(requireFile !== undefined ? { requireFile } : {}),
      file: file as string,
      args: runcArgs,
      env: { PATH: ROOT_PATH },
    };
  }
  if (requireFile !== undefined && !existsSync(requireFile))
    throw new PodError(
      PodErrorCode.REQUIRE_FILE_MISSING,
      `require file ${requireFile} is not present, so nothing of pod ${manifest.id} may run`,
      { hint: 'this host is not ready to run pods; its services are held back too' },
    );
  // Where the launchable's processes are now (under this host's naming or an earlier one); when
  // it has none, the one a launch would make, with the manifest's limits.
  const existing = existingCgroupProcs(ctx, layout, launchableId);
  const cgroupProcsFiles =
    existing.length > 0 || !ctx.options.cgroups
      ? existing
      : ((await launchableCgroups(ctx, manifest, layout)).get(launchableId) ?? []);
  const script = renderRunAs({
    user: manifest.runAs,
    group: String(account.gid),
    envDirs: [layout.envDir, layout.launchableEnvDir(launchableId)],
    workingDir,
    cgroupProcsFiles,
    ...(requireFile !== undefined ? { requireFile } : {}),
    liftFileLimit: true,
    // Keeps the caller's terminal: the command stays in the foreground process group.
    newSession: false,
    command,
    args,
  });
  return {
    pod: manifest.id,
    launchableId,
    user: { name: manifest.runAs, uid: account.uid, gid: account.gid },
    workingDir,
    cgroupProcsFiles,
    ...(requireFile !== undefined ? { requireFile } : {}),
    file: '/bin/sh',
    args: ['-c', script],
    env: { PATH: ROOT_PATH },
  };
}
