/**
 * Launching an installed pod (spec 02 §2.9): `current` switched, `bin/post-activate`, its runit
 * services written and (re)started as the pod's user in its cgroups, `bin/enable`, and only then
 * `current_manifest.yaml`, the commit marker of a launch.
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describeError } from '@p2/errors';
import {
  activateInstall,
  discoverEntryPoints,
  discoverScripts,
  installDirName,
  pruneInstalls,
} from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import { once, renderRunScript, restart, type ServiceSpec } from '@p2/runit';
import { removeTree, writeFileAtomic } from '@p2/secure-fs';
import { CONTAINER_ENTRY, containerServiceSpec, isContainer } from './container.js';
import { PodError, PodErrorCode } from './errors.js';
import { assertTrustedHome } from './home.js';
import { podServices } from './inventory.js';
import { assertSafeLaunchableId, PodLayout } from './layout.js';
import { launchableCgroups, removeStaleCgroups } from './pod-cgroups.js';
import { runLifecycleScript } from './scripts.js';
import { stagedInstall } from './stage.js';
import type {
  EntryPointScript,
  HostContext,
  LaunchOptions,
  LaunchReport,
  PodRef,
  PodUser,
} from './types.js';

/**
 * The install directory of a launchable's version in the manifest, which must exist.
 * @throws PodError `P2_PODS_NOT_INSTALLED`
 */
function installedDirName(manifest: Manifest, layout: PodLayout, launchableId: string): string {
  const dirName = installDirName(launchableId, manifest.launchableVersion(launchableId));
  if (!existsSync(join(layout.installsDir(launchableId), dirName))) {
    throw new PodError(
      PodErrorCode.NOT_INSTALLED,
      `pod ${manifest.id}: launchable ${launchableId} is not installed (${dirName})`,
      { hint: 'install the manifest before launching it' },
    );
  }
  return dirName;
}

/**
 * Makes an installed manifest run (see {@link PodHost.launch}).
 * @throws PodError `P2_PODS_LAUNCH_FAILED`, `P2_PODS_START_FAILED`, `P2_PODS_SERVICE_NAME_CLASH`
 * @internal
 */
export async function launchPod(
  ctx: HostContext,
  manifest: Manifest,
  ref: LaunchOptions,
): Promise<LaunchReport> {
  const layout = new PodLayout(ctx.podRoot, manifest.id, ref.uniqueKey ?? '');
  const { runsvdir } = ctx.options;
  const report: LaunchReport = {
    services: [],
    pendingRestarts: [],
    removedServices: [],
    scripts: [],
    timings: {},
  };
  let mark = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    report.timings[name] = Math.round(now - mark);
    mark = now;
  };
  let specs: Array<{ launchableId: string; spec: ServiceSpec }>;
  let user: PodUser;
  // Each launchable's cgroup, made once per launch: services and lifecycle scripts join it.
  let procs = new Map<string, string[]>();
  try {
    await assertTrustedHome(manifest, layout);
    user = await ctx.accounts.runAsUser(manifest, layout);
    procs = await launchableCgroups(ctx, manifest, layout);
    for (const launchableId of Object.keys(manifest.launchables)) {
      const dirName = installedDirName(manifest, layout, launchableId);
      await activateInstall(layout.launchableRoot(launchableId), dirName);
      // A bundle has no lifecycle scripts (P2 ran none for opencontainer launchables).
      if (isContainer(manifest, launchableId)) continue;
      const scripts = await discoverScripts(join(layout.installsDir(launchableId), dirName));
      if (scripts.postActivate) {
        const result = await runLifecycleScript(
          ctx.logger,
          manifest,
          layout,
          launchableId,
          scripts.postActivate,
          { timeoutMs: 3_600_000, user, cgroupProcsFiles: procs.get(launchableId) ?? [] },
        );
        report.scripts.push({ launchableId, script: 'bin/post-activate', result });
      }
    }
    specs = await serviceSpecs(ctx, manifest, layout, procs, user);
  } catch (error) {
    if (error instanceof PodError) throw error;
    throw new PodError(
      PodErrorCode.LAUNCH_FAILED,
      `launching pod ${manifest.id}: ${describeError(error)}`,
      { cause: error },
    );
  }

  lap('activate');
  const wanted = new Set(specs.map((s) => s.spec.name));
  for (const stale of await podServices(runsvdir.root, layout)) {
    if (wanted.has(stale)) continue;
    await runsvdir.remove(stale).catch((error: unknown) => {
      ctx.logger.warn(
        { pod: manifest.id, service: stale, err: describeError(error) },
        'could not remove a stale service',
      );
    });
    report.removedServices.push(stale);
  }

  const failures: string[] = [];
  for (const { launchableId, spec } of specs) {
    try {
      const installed = await runsvdir.install(spec);
      if (installed.via === 'update') {
        // An existing service gets its new run script by a restart (or once, for policy never).
        const timeoutMs = spec.restartTimeoutMs ?? 60_000;
        const noHalt = manifest.launchables[launchableId]?.noHaltOnUpdate ?? false;
        if (ref.deferRestarts && spec.restartPolicy !== 'never' && !noHalt)
          report.pendingRestarts.push(spec.name);
        else if (spec.restartPolicy === 'never') await once(installed.dir, { timeoutMs });
        else if (!noHalt) await restart(installed.dir, { timeoutMs, force: true });
        else await runsvdir.startService(spec.name, { timeoutMs });
      } else if (spec.restartPolicy === 'never') {
        await runsvdir.startService(spec.name);
      }
      report.services.push(spec.name);
    } catch (error) {
      failures.push(`${spec.name}: ${describeError(error)}`);
      ctx.logger.error(
        { pod: manifest.id, service: spec.name, err: describeError(error) },
        'service did not start',
      );
    }
  }

  // Services restarted into this naming's cgroups: those of an earlier naming go once empty.
  for (const launchableId of Object.keys(manifest.launchables))
    await removeStaleCgroups(ctx, layout, launchableId);
  lap('runit');
  if (!layout.uniqueKey) {
    for (const launchableId of Object.keys(manifest.launchables)) {
      if (isContainer(manifest, launchableId)) continue;
      const dirName = installDirName(launchableId, manifest.launchableVersion(launchableId));
      const scripts = await discoverScripts(join(layout.installsDir(launchableId), dirName)).catch(
        () => ({}) as { enable?: string },
      );
      if (!scripts.enable) continue;
      const result = await runLifecycleScript(
        ctx.logger,
        manifest,
        layout,
        launchableId,
        scripts.enable,
        { timeoutMs: 300_000, user, cgroupProcsFiles: procs.get(launchableId) ?? [] },
      );
      report.scripts.push({ launchableId, script: 'bin/enable', result });
      if (result.exitCode !== 0) {
        ctx.logger.warn(
          { pod: manifest.id, launchable: launchableId, output: result.output },
          'bin/enable failed',
        );
      }
    }
  }
  if (failures.length > 0) {
    throw new PodError(
      PodErrorCode.START_FAILED,
      `pod ${manifest.id}: ${failures.length} service(s) did not start: ${failures.join('; ')}`,
      {
        details: { pod: manifest.id, failures },
      },
    );
  }
  lap('enable');
  // current_manifest.yaml is the commit marker of a launch: written only once every service was
  // (re)started, so a crash at any earlier point is seen as "not yet launched" and redone.
  // Root reads it back to decide what runs as whom, so it is root's alone (0600).
  await writeFileAtomic(layout.currentManifestPath, manifest.raw, { mode: 0o600 });
  ctx.accounts.launched(layout, manifest);
  await prunePodInstalls(ctx, manifest, ref).catch((error: unknown) =>
    ctx.logger.warn({ pod: manifest.id, err: describeError(error) }, 'pruning installs failed'),
  );
  lap('commit');
  ctx.logger.info({ pod: manifest.id, services: report.services }, 'pod launched');
  return report;
}

/**
 * Makes an installed manifest current without running anything (see {@link PodHost.activate}).
 * @throws PodError `P2_PODS_NOT_INSTALLED`, `P2_PODS_UNTRUSTED_PATH`, `P2_PODS_LAUNCH_FAILED`
 * @internal
 */
export async function activatePod(
  ctx: HostContext,
  manifest: Manifest,
  ref: Omit<PodRef, 'podId'>,
): Promise<void> {
  const layout = new PodLayout(ctx.podRoot, manifest.id, ref.uniqueKey ?? '');
  await assertTrustedHome(manifest, layout);
  const dirNames = Object.keys(manifest.launchables).map(
    (launchableId) => [launchableId, installedDirName(manifest, layout, launchableId)] as const,
  );
  try {
    for (const [launchableId, dirName] of dirNames)
      await activateInstall(layout.launchableRoot(launchableId), dirName);
    await writeFileAtomic(layout.currentManifestPath, manifest.raw, { mode: 0o600 });
  } catch (error) {
    throw new PodError(
      PodErrorCode.LAUNCH_FAILED,
      `activating pod ${manifest.id}: ${describeError(error)}`,
      { cause: error },
    );
  }
  ctx.accounts.launched(layout, manifest);
}

/**
 * The run script of every entry point of an installed manifest (see
 * {@link PodHost.entryPointScripts}), its cgroups made.
 * @throws PodError `P2_PODS_NOT_INSTALLED`, `P2_PODS_UNTRUSTED_PATH`, `P2_PODS_SERVICE_NAME_CLASH`,
 *   `P2_PODS_RUN_AS_REFUSED`, `P2_PODS_LAUNCH_FAILED`
 * @internal
 */
export async function entryPointScripts(
  ctx: HostContext,
  manifest: Manifest,
  ref: Omit<PodRef, 'podId'>,
): Promise<EntryPointScript[]> {
  const layout = new PodLayout(ctx.podRoot, manifest.id, ref.uniqueKey ?? '');
  await assertTrustedHome(manifest, layout);
  try {
    // The account must exist for the script's privilege drop (created when missing, as at launch).
    for (const launchableId of Object.keys(manifest.launchables))
      installedDirName(manifest, layout, launchableId);
    const user = await ctx.accounts.runAsUser(manifest, layout);
    const procs = await launchableCgroups(ctx, manifest, layout);
    return (await serviceSpecs(ctx, manifest, layout, procs, user)).map(
      ({ launchableId, spec }) => ({
        launchableId,
        entryPoint: spec.entryPointEnv ?? basename(spec.entryPoint),
        name: spec.name,
        // Whoever runs the script owns its process group (a hook runner kills it on timeout).
        script: renderRunScript({ ...spec, killProcessGroup: false }),
      }),
    );
  } catch (error) {
    if (error instanceof PodError) throw error;
    throw new PodError(
      PodErrorCode.LAUNCH_FAILED,
      `the entry points of pod ${manifest.id}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/**
 * Deletes old installs of each launchable of the manifest (see {@link PodHost.pruneInstalls}).
 * @internal
 */
export async function prunePodInstalls(
  ctx: HostContext,
  manifest: Manifest,
  ref: Omit<PodRef, 'podId'> & { onlyCurrent?: boolean },
): Promise<string[]> {
  const layout = new PodLayout(ctx.podRoot, manifest.id, ref.uniqueKey ?? '');
  const removed: string[] = [];
  for (const launchableId of Object.keys(manifest.launchables)) {
    if (ref.onlyCurrent) await rm(layout.lastLink(launchableId), { force: true });
    const staged = ref.onlyCurrent ? undefined : await stagedInstall(layout, launchableId);
    const result = await pruneInstalls(
      layout.launchableRoot(launchableId),
      ref.onlyCurrent
        ? { keep: 0 }
        : {
            maxBytes: ctx.options.maxLaunchableDiskUsage ?? 10 * 2 ** 30,
            // A version staged for a coming deploy stays.
            protect: staged === undefined ? [] : [staged],
          },
    );
    removed.push(...result.removed.map((name) => `${launchableId}/installs/${name}`));
  }
  if (!ref.onlyCurrent) return removed;
  // Launchables the manifest no longer has: their whole directory (the home is root's; config,
  // env, data and the manifest are no launchable ids).
  for (const name of await readdir(layout.home)) {
    if (name in manifest.launchables) continue;
    try {
      assertSafeLaunchableId(name);
    } catch {
      continue;
    }
    await removeTree(join(layout.home, name));
    removed.push(name);
  }
  return removed;
}

/** Sends restart to services without waiting (see `deferRestarts`). @internal */
export async function restartServices(
  runsvdirRoot: string,
  names: readonly string[],
): Promise<void> {
  for (const name of names) await restart(join(runsvdirRoot, name), { timeoutMs: 0 });
}

/** The runit services a manifest's launchables need, each joining its launchable's cgroup in `procs`. */
async function serviceSpecs(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
  procs: ReadonlyMap<string, string[]>,
  user: PodUser,
): Promise<Array<{ launchableId: string; spec: ServiceSpec }>> {
  const specs: Array<{ launchableId: string; spec: ServiceSpec }> = [];
  const owners = new Map<string, string>();
  for (const [launchableId, stanza] of Object.entries(manifest.launchables)) {
    const installDir = join(
      layout.installsDir(launchableId),
      installDirName(launchableId, manifest.launchableVersion(launchableId)),
    );
    const container = isContainer(manifest, launchableId);
    // A container launchable has one service, `…__container`, whatever its bundle holds.
    const entryPoints = container
      ? [{ relativePath: CONTAINER_ENTRY, path: join(installDir, CONTAINER_ENTRY) }]
      : await discoverEntryPoints(installDir, {
          entryPoints: stanza.entryPoints,
          naming: layout.uniqueKey ? 'uuid' : 'legacy',
        });
    const cgroupProcsFiles = procs.get(launchableId) ?? [];
    const helpers = ctx.options.serviceHelpers;
    // An empty log_exec is no log command; blacklisted pods get plain svlogd.
    const logExec =
      helpers?.logExec?.length && !helpers.logBridgeBlacklist?.includes(manifest.id)
        ? helpers.logExec
        : undefined;
    for (const entry of entryPoints) {
      const name = layout.serviceName(launchableId, entry.relativePath);
      const clash = owners.get(name);
      if (clash) {
        throw new PodError(
          PodErrorCode.SERVICE_NAME_CLASH,
          `pod ${manifest.id}: ${launchableId}:${entry.relativePath} and ${clash} both map to the runit service ${name}`,
          { hint: 'rename one of the entry points or launchables' },
        );
      }
      owners.set(name, `${launchableId}:${entry.relativePath}`);
      // Who the output is from, for the log and finish commands; nothing from the pod's env dirs.
      const helperEnv: Record<string, string> = {
        POD_ID: manifest.id,
        ...(layout.uniqueKey ? { POD_UNIQUE_KEY: layout.uniqueKey } : {}),
        POD_HOME: layout.home,
        LAUNCHABLE_ID: launchableId,
        ENTRY_POINT: entry.relativePath,
        P2_SERVICE: name,
        P2_NODE: ctx.nodeName,
      };
      const logUser = ctx.options.logUser ?? 'nobody';
      const spec: ServiceSpec = {
        name,
        entryPoint: entry.path,
        entryPointEnv: entry.relativePath,
        // Named in every exit record, so a uuid pod's exits reach its P2 status record.
        identity: {
          podId: manifest.id,
          ...(layout.uniqueKey ? { podUniqueKey: layout.uniqueKey } : {}),
          launchableId,
          entryPoint: entry.relativePath,
        },
        user: manifest.runAs,
        envDirs: [layout.envDir, layout.launchableEnvDir(launchableId)],
        workingDir: installDir,
        cgroupProcsFiles,
        restartPolicy:
          stanza.restartPolicy === '' || stanza.restartPolicy === 'always' ? 'always' : 'never',
        restartTimeoutMs: manifest.restartTimeoutSeconds(launchableId) * 1000,
        ...(ctx.options.requireFile ? { requireFile: ctx.options.requireFile } : {}),
        log: { user: logUser, ...(logExec ? { command: logExec, env: helperEnv } : {}) },
        ...(helpers?.finishExec
          ? { finish: { command: helpers.finishExec, user: logUser, env: helperEnv } }
          : {}),
        keepHelpers: helpers === undefined,
      };
      specs.push({
        launchableId,
        spec: container
          ? await containerServiceSpec(ctx, manifest, layout, launchableId, user, spec)
          : spec,
      });
    }
  }
  return specs;
}
