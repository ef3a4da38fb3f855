/**
 * Installing a pod (spec 02 §2.5): its user and home, every launchable's artifact downloaded,
 * verified and extracted (root's, readable by the pod), and its config and env dirs.
 */
import { basename, join } from 'node:path';
import { describeError } from '@p2/errors';
import {
  type DownloadProgress,
  fetchBytes,
  installArtifact,
  type OsRelease,
  readOsRelease,
  verifyInstallDigest,
} from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import { ensureTrustedDir, writeFileAtomic } from '@p2/secure-fs';
import { checkInstalledBundle, isContainer } from './container.js';
import { pruneImages } from './container-image.js';
import { writeEnvDir } from './envdir.js';
import { PodError, PodErrorCode } from './errors.js';
import { assertReachable, prepareDataDir, prepareHome } from './home.js';
import { assertSafeLaunchableId, PodLayout } from './layout.js';
import { podEnvironment } from './pod-env.js';
import { discoverLaunchable, isRegistryLaunchable, registryFor } from './registry.js';
import { consumeStaged } from './stage.js';
import type {
  HostContext,
  InstallOptions,
  InstallReport,
  LaunchableInstallReport,
  PodHostOptions,
  PodUser,
} from './types.js';

/** Whether the pod is read-only: the manifest's `readonly`, else the node's default. @internal */
export function isReadOnly(options: PodHostOptions, manifest: Manifest): boolean {
  return manifest.readonly ?? options.readOnlyDefault?.(manifest.id) ?? false;
}

/**
 * Installs a manifest (see {@link PodHost.install}).
 * @throws PodError `P2_PODS_UNSUPPORTED_LAUNCHABLE`, `P2_PODS_CONTAINER_REFUSED`, `P2_PODS_INSTALL_FAILED`
 * @internal
 */
export async function installPod(
  ctx: HostContext,
  manifest: Manifest,
  options: Omit<InstallOptions, 'podId'>,
): Promise<InstallReport> {
  const { layout, readOnly, user, launchables } = await installLaunchables(ctx, manifest, options);
  const configPath = await podStep(manifest, 'config and env', async () => {
    // A pre-staged version being deployed: `current` will keep it from now on.
    for (const launchable of launchables)
      await consumeStaged(layout, launchable.launchableId, launchable.installDir);
    return writeConfigAndEnv(manifest, layout, readOnly, { uid: user.uid, gid: user.gid });
  });
  ctx.logger.info({ pod: manifest.id, launchables: launchables.length }, 'pod installed');
  return { podHome: layout.home, readOnly, configPath, launchables };
}

/**
 * The part of an install that only adds to `installs/`: the pod's user and home, then every
 * launchable's artifact downloaded, verified (digest, signature, tree digest, container bundle)
 * and extracted. Never touches `current`, config, env or services: a pre-stage is this alone.
 * @internal
 */
export async function installLaunchables(
  ctx: HostContext,
  manifest: Manifest,
  options: Omit<InstallOptions, 'podId'>,
): Promise<{
  layout: PodLayout;
  readOnly: boolean;
  user: { uid: number; gid: number };
  launchables: LaunchableInstallReport[];
}> {
  const layout = new PodLayout(ctx.podRoot, manifest.id, options.uniqueKey ?? '');
  assertSupported(manifest, ctx.hookPods === true);
  for (const launchableId of Object.keys(manifest.launchables))
    assertSafeLaunchableId(launchableId);
  // Hook pods are never read-only (as in P2): their data/ is their user's.
  const readOnly = ctx.hookPods ? false : isReadOnly(ctx.options, manifest);
  const step = <T>(what: string, fn: () => Promise<T>): Promise<T> => podStep(manifest, what, fn);
  const userStep = `user ${manifest.runAs}`;
  const createUser = await step(userStep, () => ctx.accounts.checkedRunAs(manifest, layout));
  await assertReachable(ctx.podRoot, manifest);
  await step('pod home', () => prepareHome(ctx, manifest, layout));
  // The policy allowed the user: it is created (a turn in the users lock, shared by a burst of new
  // pods) while the artifacts download; only data/ and a container's bundle need it.
  const creating = step(userStep, createUser);
  creating.catch(() => undefined);
  const launchables = await installArtifacts(ctx, manifest, layout, options, () => creating);
  const user = await creating;
  await step('pod home', () => prepareDataDir(layout, user, readOnly));
  return { layout, readOnly, user, launchables };
}

/** Every launchable's artifact downloaded, verified and extracted (see {@link installLaunchables}). */
async function installArtifacts(
  ctx: HostContext,
  manifest: Manifest,
  layout: PodLayout,
  options: Omit<InstallOptions, 'podId'>,
  user: () => Promise<PodUser>,
): Promise<LaunchableInstallReport[]> {
  const step = <T>(what: string, fn: () => Promise<T>): Promise<T> => podStep(manifest, what, fn);

  // The release file is read once per install, and only when a version: launchable needs it.
  let os: Promise<OsRelease> | undefined;
  const discover = (launchableId: string) => async () => {
    os ??= readOsRelease(ctx.options.osVersionFile);
    const found = await discoverLaunchable(manifest, launchableId, ctx.options, await os);
    ctx.logger.info(
      {
        pod: manifest.id,
        launchable: launchableId,
        registry: registryFor(manifest, ctx.options.artifactRegistry),
        from: found.fromRegistry,
      },
      'artifact found through the registry',
    );
    return found;
  };
  const launchables: LaunchableInstallReport[] = [];
  for (const [launchableId, stanza] of Object.entries(manifest.launchables)) {
    const launchableRoot = layout.launchableRoot(launchableId);
    const report = await step(`launchable ${launchableId}`, async () => {
      // Everything but data/ is root's: the pod can read its artifact, never change what root
      // later reads, runs, links to or prunes.
      await ensureTrustedDir(launchableRoot, 0o755);
      const result = await installArtifact({
        ...ctx.options.fetch,
        launchableRoot,
        launchableId,
        // A version: launchable's artifact is looked up only when it is not installed yet.
        ...(isRegistryLaunchable(manifest, launchableId)
          ? { discover: discover(launchableId) }
          : { location: stanza.location }),
        version: manifest.launchableVersion(launchableId),
        // Root owns the install; the pod must still read and run it, whatever modes it was packed with.
        shareReadAccess: true,
        ...(ctx.options.artifactVerifier ? { verifier: ctx.options.artifactVerifier } : {}),
        ...(options.onProgress
          ? { onProgress: (p: DownloadProgress) => options.onProgress?.(launchableId, p) }
          : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return {
        launchableId,
        installDir: result.installDir,
        alreadyInstalled: result.alreadyInstalled,
        ...(result.location === undefined ? {} : { location: result.location }),
        ...(result.alreadyInstalled ? {} : { timings: result.timings }),
      };
    });
    // The tree digest first: a container's bundle or image is read only once it matched.
    if (stanza.digestLocation) {
      await step(`digest of ${launchableId}`, () =>
        verifyDigest(ctx.options, manifest, launchableId, report.installDir),
      );
    }
    if (isContainer(manifest, launchableId)) {
      // Refused here, the version that runs keeps running: the new one is never launched. An
      // image is unpacked here (once per version); images of versions no longer installed go.
      await step(`bundle of ${launchableId}`, async () => {
        await checkInstalledBundle(ctx, manifest, layout, launchableId, await user());
        await pruneImages(ctx, layout, launchableId, basename(report.installDir));
      });
    }
    launchables.push(report);
  }
  return launchables;
}

/** Runs one install step, turning a failure into PodError `P2_PODS_INSTALL_FAILED`. */
async function podStep<T>(manifest: Manifest, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof PodError) throw error;
    throw new PodError(
      PodErrorCode.INSTALL_FAILED,
      `installing pod ${manifest.id}: ${what}: ${describeError(error)}`,
      {
        cause: error,
        ...(error && typeof error === 'object' && 'hint' in error && typeof error.hint === 'string'
          ? { hint: error.hint }
          : {}),
        details: {
          pod: manifest.id,
          step: what,
          ...(error && typeof error === 'object' && 'code' in error
            ? { causeCode: error.code }
            : {}),
        },
      },
    );
  }
}

function assertSupported(manifest: Manifest, hookPod: boolean): void {
  for (const [launchableId, stanza] of Object.entries(manifest.launchables)) {
    const type = stanza.launchableType;
    // A hook pod's executors are scripts run by the hook runner, never a supervised container.
    if (type === 'hoist' || (type === 'opencontainer' && !hookPod)) continue;
    throw new PodError(
      PodErrorCode.UNSUPPORTED_LAUNCHABLE,
      `pod ${manifest.id}: launchable ${launchableId} has launchable_type ${JSON.stringify(type)}; this host runs ${hookPod ? 'hook pods of hoist launchables' : 'hoist and opencontainer launchables'}`,
      {
        hint:
          type === 'docker'
            ? 'p2 runs no docker daemon: export the image as an OCI archive (`skopeo copy docker-daemon:IMAGE oci-archive:F.tar`, gzipped) or an OCI bundle (config.json + rootfs/, tarred) and use launchable_type: opencontainer'
            : hookPod
              ? 'a hook pod runs hoist launchables only'
              : 'use launchable_type: hoist or opencontainer',
      },
    );
  }
}

async function verifyDigest(
  options: PodHostOptions,
  manifest: Manifest,
  launchableId: string,
  installDir: string,
): Promise<void> {
  const stanza = manifest.launchables[launchableId];
  if (!stanza) return;
  const digest = await fetchBytes(stanza.digestLocation, options.fetch ?? {});
  const signatureLocation = stanza.digestSignatureLocation || undefined;
  const signature = signatureLocation
    ? await fetchBytes(signatureLocation, options.fetch ?? {})
    : undefined;
  if (options.digestSignatureVerifier) {
    await options.digestSignatureVerifier(digest, signature, stanza.digestLocation);
  }
  await verifyInstallDigest(installDir, digest.toString('utf8'));
}

/**
 * Writes the pod's config files (0400, the pod's user's: they may hold secrets) and its pod and
 * launchable env dirs, in root's directories.
 */
async function writeConfigAndEnv(
  manifest: Manifest,
  layout: PodLayout,
  readOnly: boolean,
  owner: { uid: number; gid: number },
): Promise<string> {
  const env = podEnvironment(manifest, layout, readOnly);
  await ensureTrustedDir(layout.configDir, 0o755);
  // Config may hold secrets: readable by the pod's user (0400, its own) and root only.
  for (const file of env.files)
    await writeFileAtomic(join(layout.configDir, file.name), file.text, {
      mode: 0o400,
      uid: owner.uid,
      gid: owner.gid,
    });
  await writeEnvDir(layout.envDir, env.pod, { owner });
  for (const launchableId of Object.keys(manifest.launchables))
    await writeEnvDir(layout.launchableEnvDir(launchableId), env.launchable(launchableId), {
      replace: true,
      owner,
    });
  return env.pod.CONFIG_PATH as string;
}
