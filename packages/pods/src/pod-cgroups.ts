/**
 * A pod's cgroups: one per launchable — flat `<pod>__<launchable>` by default, nested
 * `p2/<node>/<pod>/<launchable>` with the host's `cgroupNaming.nested` (P2's `nested_cgroups`),
 * both below `cgroupNaming.parent` — which its services and lifecycle scripts join, with the
 * manifest's cpu and memory limits. With nested names and `podCgroupLimits` (P2's
 * `include_pod_id_arg`), the pod's own cgroup gets its `resource_limits.cgroup`.
 *
 * A host whose naming changed keeps running processes where they are, with their limits, until
 * the pod is launched again: its services then join the new cgroup and the old one goes once it is
 * empty; a forced halt and an uninstall remove every form, killing what still runs there. Hook
 * pods' cgroups are the same forms below their own `hooks` parent.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import {
  type CgroupLocation,
  type CgroupNaming,
  CgroupsError,
  CgroupsErrorCodes,
  createCgroup,
  type LaunchableCgroupIds,
  launchableCgroupCandidates,
  launchableCgroupLocation,
  openCgroup,
  podCgroupLocation,
  removePodCgroups as removeAllPodCgroups,
} from '@p2/cgroups';
import { describeError } from '@p2/errors';
import type { Manifest } from '@p2/manifest';
import { HOOK_PODS_DIR, type PodLayout } from './layout.js';
import type { HostContext } from './types.js';

/**
 * This host's naming for the pod: as configured, except that hook pods' cgroups live below their
 * own `hooks` parent (no pod is named `hooks`, so they never meet a pod's) and nowhere else.
 */
function namingOf(ctx: HostContext): CgroupNaming {
  const naming = ctx.options.cgroupNaming ?? {};
  if (!ctx.hookPods) return naming;
  const parent = [naming.parent, HOOK_PODS_DIR].filter((part) => part).join('/');
  return { ...naming, parent, onlyParent: true };
}

function ids(ctx: HostContext, layout: PodLayout, launchableId: string): LaunchableCgroupIds {
  layout.launchableRoot(launchableId); // the id is checked before it names a cgroup
  return { node: ctx.nodeName, pod: layout.uniqueName, launchable: launchableId };
}

/** The cgroup a launchable's processes join under this host's naming (not created). @internal */
export function launchableCgroupOf(
  ctx: HostContext,
  layout: PodLayout,
  launchableId: string,
): CgroupLocation {
  return launchableCgroupLocation(namingOf(ctx), ids(ctx, layout, launchableId));
}

/**
 * Creates (or updates) the cgroup of every launchable of the manifest with its limits and returns
 * the `cgroup.procs` files each launchable's processes join — services and lifecycle scripts
 * alike. With nested names and `podCgroupLimits`, the pod's cgroup (their parent) is limited by
 * `resource_limits.cgroup` (unlimited when the manifest has none). v1 refuses a child CPU quota
 * above its parent's, so a raised pod limit is written before the launchables' and a lowered one
 * after them.
 * @internal
 */
export async function launchableCgroups(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
): Promise<Map<string, string[]>> {
  const procs = new Map<string, string[]>();
  const hierarchy = ctx.options.cgroups;
  if (!hierarchy) return procs;
  if (ctx.hookPods) {
    // Hook pods' own parent, made (unlimited) below the configured one on first use.
    await createCgroup(
      hierarchy,
      { parent: ctx.options.cgroupNaming?.parent ?? '', name: HOOK_PODS_DIR },
      {},
      { logger: ctx.logger },
    );
  }
  const launchables = async () => {
    for (const [launchableId, stanza] of Object.entries(manifest.launchables)) {
      const cgroup = await createCgroup(
        hierarchy,
        launchableCgroupOf(ctx, layout, launchableId),
        { cpus: stanza.cgroup.cpus, memory: stanza.cgroup.memory },
        { logger: ctx.logger },
      );
      procs.set(launchableId, cgroup.procsFiles());
    }
  };
  const naming = namingOf(ctx);
  if (!(naming.nested && ctx.options.podCgroupLimits)) {
    await launchables();
    return procs;
  }
  const pod = () =>
    createCgroup(
      hierarchy,
      podCgroupLocation(naming, { node: ctx.nodeName, pod: layout.uniqueName }),
      manifest.resourceLimits ?? {},
      { logger: ctx.logger },
    );
  try {
    await pod();
  } catch (error) {
    if (!(error instanceof CgroupsError && error.code === CgroupsErrorCodes.WRITE_FAILED))
      throw error;
    // A lowered pod limit below a launchable's current quota: the launchables go first.
    await launchables();
    await pod();
    return procs;
  }
  await launchables();
  return procs;
}

/**
 * The `cgroup.procs` files of the cgroup a launchable's processes are in now: its cgroup under
 * this host's naming when it exists, else the one it had under an earlier naming (none when gone).
 * @internal
 */
export function existingCgroupProcs(
  ctx: HostContext,
  layout: PodLayout,
  launchableId: string,
): string[] {
  const hierarchy = ctx.options.cgroups;
  if (!hierarchy) return [];
  for (const location of launchableCgroupCandidates(
    namingOf(ctx),
    ids(ctx, layout, launchableId),
  )) {
    const files = openCgroup(hierarchy, location).procsFiles();
    if (files.length > 0 && files.every((file) => existsSync(file))) return files;
  }
  return [];
}

/**
 * Removes a launchable's cgroups of other namings (left by an earlier p2, or before the naming
 * changed) once no process is in them — after its services joined the current one. A cgroup still
 * in use (a deferred restart, `no_halt_on_update`, a process left behind) stays, with its limits,
 * until the pod is halted with force or uninstalled.
 * @internal
 */
export async function removeStaleCgroups(
  ctx: HostContext,
  layout: PodLayout,
  launchableId: string,
): Promise<void> {
  const hierarchy = ctx.options.cgroups;
  if (!hierarchy) return;
  // The first candidate is the current naming's own cgroup; the others are of earlier namings.
  const [, ...others] = launchableCgroupCandidates(namingOf(ctx), ids(ctx, layout, launchableId));
  for (const location of others) {
    const cgroup = openCgroup(hierarchy, location, { logger: ctx.logger });
    try {
      if (!(await cgroup.exists())) continue;
      // A service that was just stopped can take a moment to leave its cgroup (its last processes
      // are still being reaped): look again for up to a second before leaving the cgroup be.
      if ((await stillUsed(cgroup)).length > 0) {
        ctx.logger.info(
          { pod: layout.podId, launchable: launchableId, cgroup: cgroup.path },
          'processes still run in a cgroup of an earlier naming; it stays until they are gone',
        );
        continue;
      }
      await cgroup.remove();
      await removeEmptyPodCgroup(ctx, layout, location.parent ?? '');
    } catch (error) {
      // Left for the next launch, forced halt or uninstall; never a reason to fail this one.
      ctx.logger.warn(
        { pod: layout.podId, cgroup: cgroup.path, err: describeError(error) },
        'could not remove a cgroup of an earlier naming',
      );
    }
  }
}

async function stillUsed(cgroup: { processes(): Promise<number[]> }): Promise<number[]> {
  let procs = await cgroup.processes();
  for (let i = 0; i < 20 && procs.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    procs = await cgroup.processes();
  }
  return procs;
}

/** The nested pod cgroup below `parent`, once none of its launchables' cgroups is left in it. */
async function removeEmptyPodCgroup(
  ctx: HostContext,
  layout: PodLayout,
  parent: string,
): Promise<void> {
  const hierarchy = ctx.options.cgroups;
  if (!hierarchy) return;
  const naming = namingOf(ctx);
  // The pod cgroup of the current naming stays: its launchables' cgroups are made in it.
  if (naming.nested && (naming.parent ?? '') === parent) return;
  const pod = openCgroup(
    hierarchy,
    podCgroupLocation({ parent }, { node: ctx.nodeName, pod: layout.uniqueName }),
  );
  for (const dir of pod.uniqueDirectories()) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    if (entries.some((entry) => entry.isDirectory())) return;
  }
  await pod.remove();
}

/**
 * Removes every cgroup of the pod, in either naming, killing whatever still runs in them (a
 * forced halt, an uninstall).
 * @internal
 */
export async function removePodCgroups(ctx: HostContext, layout: PodLayout): Promise<void> {
  if (!ctx.options.cgroups) return;
  await removeAllPodCgroups(ctx.options.cgroups, namingOf(ctx), {
    node: ctx.nodeName,
    pod: layout.uniqueName,
  });
  if (ctx.hookPods) {
    // The hook pods' parent goes with the last of them.
    const parent = openCgroup(ctx.options.cgroups, {
      parent: ctx.options.cgroupNaming?.parent ?? '',
      name: HOOK_PODS_DIR,
    });
    for (const dir of parent.uniqueDirectories()) {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      if (entries.some((entry) => entry.isDirectory())) return;
    }
    await parent.remove().catch(() => undefined);
  }
}
