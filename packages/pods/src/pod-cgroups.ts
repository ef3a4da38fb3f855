/**
 * A pod's cgroups: one per launchable (`p2/<node>/<pod>/<launchable>`; a hook pod's:
 * `p2/<node>/hooks/<hook pod>/<launchable>`), which its services, lifecycle scripts and hook runs
 * join, with the manifest's cpu and memory limits.
 */
import { existsSync } from 'node:fs';
import { cgroupName, createCgroup, openCgroup } from '@p2/cgroups';
import type { Manifest } from '@p2/manifest';
import { HOOK_PODS_DIR, type PodLayout } from './layout.js';
import type { HostContext } from './types.js';

/** The pod's part of its cgroup names (no pod is named `hooks`, so hook pods' never clash). */
function cgroupPod(ctx: HostContext, layout: PodLayout): string {
  return ctx.hookPods ? `${HOOK_PODS_DIR}/${layout.uniqueName}` : layout.uniqueName;
}

function launchableCgroupName(ctx: HostContext, layout: PodLayout, launchableId: string): string {
  return cgroupName({ node: ctx.nodeName, pod: cgroupPod(ctx, layout), launchable: launchableId });
}

/**
 * Creates (or updates) a launchable's cgroup with the manifest's limits and returns the
 * `cgroup.procs` files its processes join — services and lifecycle scripts alike.
 * @internal
 */
export async function launchableCgroup(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
  launchableId: string,
): Promise<string[]> {
  const stanza = manifest.launchables[launchableId];
  if (!ctx.options.cgroups || !stanza) return [];
  const cgroup = await createCgroup(
    ctx.options.cgroups,
    { name: launchableCgroupName(ctx, layout, launchableId) },
    { cpus: stanza.cgroup.cpus, memory: stanza.cgroup.memory },
  );
  return cgroup.procsFiles();
}

/** The `cgroup.procs` files of a launchable's cgroup as it exists now (none when it is gone). @internal */
export function existingCgroupProcs(
  ctx: HostContext,
  layout: PodLayout,
  launchableId: string,
): string[] {
  if (!ctx.options.cgroups) return [];
  return openCgroup(ctx.options.cgroups, {
    name: launchableCgroupName(ctx, layout, launchableId),
  })
    .procsFiles()
    .filter((file) => existsSync(file));
}

/** Removes the pod's cgroups, killing whatever still runs in them. @internal */
export async function removePodCgroups(ctx: HostContext, layout: PodLayout): Promise<void> {
  if (!ctx.options.cgroups) return;
  await openCgroup(ctx.options.cgroups, {
    name: cgroupName({ node: ctx.nodeName, pod: cgroupPod(ctx, layout) }),
  }).remove({ kill: true });
}
