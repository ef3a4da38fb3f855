/**
 * Stopping a pod (spec 02 §2.10: `bin/disable`, then its services) and removing it from the host
 * (§2.11: services, cgroups and home, deleted without following the pod's links). A forced halt
 * also removes the pod's cgroups (either naming), killing what its services left behind, so a
 * stopped pod runs nothing; an update's halt removes only emptied cgroups of an earlier naming.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { discoverScripts, readLink, switchLink } from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import { down } from '@p2/runit';
import { removeTree } from '@p2/secure-fs';
import { isContainer, removeContainerLeftovers, stopContainer } from './container.js';
import { PodError, PodErrorCode } from './errors.js';
import { currentManifest, podServices, serviceNamesByLaunchable } from './inventory.js';
import { PodLayout } from './layout.js';
import { existingCgroupProcs, removePodCgroups, removeStaleCgroups } from './pod-cgroups.js';
import { runLifecycleScript, type ScriptResult } from './scripts.js';
import type { HostContext, PodRef } from './types.js';

/**
 * Stops a pod (see {@link PodHost.halt}).
 * @throws PodError `P2_PODS_HALT_FAILED` when a service did not stop
 * @internal
 */
export async function haltPod(
  ctx: HostContext,
  manifest: Manifest,
  options: Omit<PodRef, 'podId'> & { force?: boolean },
): Promise<void> {
  const layout = new PodLayout(ctx.podRoot, manifest.id, options.uniqueKey ?? '');
  const graceMs = Math.min(
    (manifest.terminationGracePeriodSeconds || 3600) * 1000,
    ctx.options.maxDisableMs ?? 3_600_000,
  );
  const specs = await serviceNamesByLaunchable(ctx.options.runsvdir.root, manifest, layout);
  if (!layout.uniqueKey) {
    for (const launchableId of Object.keys(manifest.launchables)) {
      if (isContainer(manifest, launchableId)) continue;
      const current = await readLink(layout.launchableRoot(launchableId), 'current').catch(
        () => undefined,
      );
      if (!current) continue;
      const scripts = await discoverScripts(join(layout.installsDir(launchableId), current)).catch(
        () => ({}) as { disable?: string },
      );
      if (!scripts.disable) continue;
      // A disable script that cannot run (e.g. its run_as is refused now) never keeps the
      // services from stopping.
      let result: ScriptResult | undefined;
      try {
        result = await runLifecycleScript(
          ctx.logger,
          manifest,
          layout,
          launchableId,
          scripts.disable,
          {
            timeoutMs: graceMs,
            user: await ctx.accounts.runAsUser(manifest, layout),
            // The running version's cgroup: joined as it is, not re-created (no limit writes).
            cgroupProcsFiles: existingCgroupProcs(ctx, layout, launchableId),
          },
        );
      } catch (error) {
        ctx.logger.warn(
          { pod: manifest.id, launchable: launchableId, err: describeError(error) },
          'bin/disable could not run',
        );
      }
      if (result && result.exitCode !== 0)
        ctx.logger.warn(
          { pod: manifest.id, launchable: launchableId, output: result.output },
          'bin/disable failed',
        );
    }
  }
  const failures: string[] = [];
  for (const [launchableId, names] of specs) {
    const stanza = manifest.launchables[launchableId];
    if (stanza?.noHaltOnUpdate && !options.force) continue;
    const timeoutMs = manifest.restartTimeoutSeconds(launchableId) * 1000;
    for (const name of names) {
      const dir = join(ctx.options.runsvdir.root, name);
      if (!existsSync(dir)) continue;
      try {
        await down(dir, { timeoutMs, force: true });
      } catch (error) {
        failures.push(`${name}: ${describeError(error)}`);
      }
    }
    // runit stopped runc (which passed the signal on); what a killed runc left goes now.
    if (isContainer(manifest, launchableId))
      await stopContainer(ctx, layout, launchableId).catch((error: unknown) =>
        failures.push(`container ${launchableId}: ${describeError(error)}`),
      );
    const current = await readLink(layout.launchableRoot(launchableId), 'current').catch(
      () => undefined,
    );
    if (current) {
      await switchLink(layout.launchableRoot(launchableId), 'last', current).catch(
        (error: unknown) =>
          ctx.logger.warn({ pod: manifest.id, err: describeError(error) }, 'could not switch last'),
      );
    }
    if (!options.force) await removeStaleCgroups(ctx, layout, launchableId);
  }
  if (options.force) {
    try {
      await removePodCgroups(ctx, layout);
    } catch (error) {
      failures.push(`cgroups: ${describeError(error)}`);
    }
  }
  if (failures.length > 0) {
    throw new PodError(
      PodErrorCode.HALT_FAILED,
      `pod ${manifest.id}: ${failures.length} service(s) did not stop: ${failures.join('; ')}`,
    );
  }
}

/**
 * Removes a pod from this host (see {@link PodHost.uninstall}).
 * @throws PodError `P2_PODS_UNINSTALL_FAILED`
 * @internal
 */
export async function uninstallPod(
  ctx: HostContext,
  ref: PodRef & { alreadyHalted?: boolean },
): Promise<void> {
  const layout = new PodLayout(ctx.podRoot, ref.podId, ref.uniqueKey ?? '');
  // Hook pods are never supervised: nothing to halt, and the runit services named like one (a
  // pod of the same id) are not theirs.
  const manifest =
    ref.alreadyHalted || ctx.hookPods
      ? undefined
      : await currentManifest(layout).catch(() => undefined);
  if (manifest) {
    await haltPod(ctx, manifest, {
      force: true,
      ...(ref.uniqueKey ? { uniqueKey: ref.uniqueKey } : {}),
    }).catch((error: unknown) =>
      ctx.logger.warn(
        { pod: ref.podId, err: describeError(error) },
        'halt before uninstall failed',
      ),
    );
  }
  // Which launchables may have had containers (their runc cgroups and specs are removed too).
  const launchableIds = Object.keys(
    (manifest ?? (await currentManifest(layout).catch(() => undefined)))?.launchables ?? {},
  );
  try {
    if (!ctx.hookPods)
      for (const name of await podServices(ctx.options.runsvdir.root, layout))
        await ctx.options.runsvdir.remove(name);
    await removePodCgroups(ctx, layout);
    await removeContainerLeftovers(ctx, layout, launchableIds);
    // data/ is the pod's: delete without following anything it may have linked.
    await removeTree(layout.home);
    ctx.accounts.uninstalled(layout);
  } catch (error) {
    throw new PodError(
      PodErrorCode.UNINSTALL_FAILED,
      `uninstalling pod ${ref.podId}: ${describeError(error)}`,
      { cause: error },
    );
  }
  ctx.logger.info({ pod: ref.podId }, 'pod uninstalled');
}
