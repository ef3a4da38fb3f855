/**
 * What a host has: the pods under its pod root (their trusted `current_manifest.yaml`), their runit
 * services and the services' states.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@p2/errors';
import { type Manifest, parseManifest } from '@p2/manifest';
import { readStatus } from '@p2/runit';
import { distrustDir, readTrustedFile } from '@p2/secure-fs';
import { PodError, PodErrorCode } from './errors.js';
import { PodLayout } from './layout.js';
import type { InstalledPod, PodRef, ServiceState } from './types.js';

/** Largest `current_manifest.yaml` root reads back. */
const MAX_MANIFEST_BYTES = 4 * 2 ** 20;

/**
 * The manifest a pod last launched with, read only as a root-owned file in a root-owned home
 * (see {@link PodHost.currentManifest}).
 * @throws PodError `P2_PODS_UNTRUSTED_PATH`; ManifestError when it does not parse
 * @internal
 */
export async function currentManifest(layout: PodLayout): Promise<Manifest | undefined> {
  if (!existsSync(layout.home)) return undefined;
  let bytes: Buffer | undefined;
  try {
    const why = await distrustDir(layout.home);
    if (why) throw new Error(`${layout.home} ${why}`);
    bytes = await readTrustedFile(layout.currentManifestPath, { maxBytes: MAX_MANIFEST_BYTES });
  } catch (error) {
    throw new PodError(
      PodErrorCode.UNTRUSTED_PATH,
      `pod ${layout.podId}: not trusting its current manifest: ${describeError(error)}`,
      {
        cause: error,
        hint: 'deploying the pod again lays its home out afresh, root-owned',
        details: { pod: layout.podId, path: layout.currentManifestPath },
      },
    );
  }
  if (!bytes) return undefined;
  return parseManifest(bytes, { source: layout.currentManifestPath });
}

/** Pods found under the pod root (a home with a `current_manifest.yaml`). @internal */
export async function installedPods(podRoot: string): Promise<InstalledPod[]> {
  const names = await readdir(podRoot).catch(() => [] as string[]);
  const pods: InstalledPod[] = [];
  for (const name of names.sort()) {
    if (name === 'hooks' || name.startsWith('.')) continue;
    let layout: PodLayout;
    try {
      layout = PodLayout.fromHomeName(podRoot, name);
    } catch {
      continue;
    }
    if (!existsSync(layout.currentManifestPath)) continue;
    try {
      const manifest = await currentManifest(layout);
      pods.push(manifest ? { layout, manifest } : { layout });
    } catch (error) {
      pods.push({ layout, error: describeError(error) });
    }
  }
  return pods;
}

/** Names of the runit services that belong to a pod (by P2's `<unique name>__` prefix). @internal */
export async function podServices(runsvdirRoot: string, layout: PodLayout): Promise<string[]> {
  const prefix = `${layout.uniqueName}__`;
  const entries = await readdir(runsvdirRoot).catch(() => [] as string[]);
  return entries
    .filter((name) => name.startsWith(prefix) && !name.slice(prefix.length).includes('/'))
    .sort();
}

/** A pod's runit services by the launchable of its manifest they belong to. @internal */
export async function serviceNamesByLaunchable(
  runsvdirRoot: string,
  manifest: Manifest,
  layout: PodLayout,
): Promise<Map<string, string[]>> {
  const all = await podServices(runsvdirRoot, layout);
  const byLaunchable = new Map<string, string[]>();
  for (const launchableId of Object.keys(manifest.launchables)) {
    const prefix = `${layout.serviceId(launchableId)}__`;
    byLaunchable.set(
      launchableId,
      all.filter((name) => name.startsWith(prefix)),
    );
  }
  return byLaunchable;
}

/** Status of every service of a pod, read from runit's `supervise/`. @internal */
export async function serviceStates(
  runsvdirRoot: string,
  manifest: Manifest,
  layout: PodLayout,
): Promise<ServiceState[]> {
  const states: ServiceState[] = [];
  for (const [launchableId, names] of await serviceNamesByLaunchable(
    runsvdirRoot,
    manifest,
    layout,
  )) {
    for (const name of names) {
      try {
        states.push({
          name,
          launchableId,
          status: await readStatus(join(runsvdirRoot, name)),
        });
      } catch (error) {
        states.push({ name, launchableId, error: describeError(error) });
      }
    }
  }
  return states;
}

/**
 * The manifest a pod runs now (see {@link PodHost.runningManifest}): its `current_manifest.yaml`,
 * provided every one of its services is supervised and running or deliberately down.
 * @internal
 */
export async function runningManifest(
  podRoot: string,
  runsvdirRoot: string,
  ref: PodRef & { requireServices?: boolean },
): Promise<Manifest | undefined> {
  const current = await currentManifest(
    new PodLayout(podRoot, ref.podId, ref.uniqueKey ?? ''),
  ).catch(() => undefined);
  if (!current) return undefined;
  const services = await serviceStates(
    runsvdirRoot,
    current,
    new PodLayout(podRoot, current.id, ref.uniqueKey ?? ''),
  );
  if (ref.requireServices && services.length === 0) return undefined;
  const up = services.every(
    (s) => s.status?.supervised === true && (s.status.state === 'run' || s.status.want === 'down'),
  );
  return up ? current : undefined;
}

/** One runit service of an installed pod, and where it is. */
export interface PodService {
  service: string;
  launchable: string;
  /** The service directory (its log is in `log/main/`). */
  dir: string;
}

/**
 * The runit services of a pod installed under `podRoot` (read from its `current_manifest.yaml`),
 * optionally of one launchable: what `p2 logs` reads.
 *
 * @throws PodError `P2_PODS_NOT_INSTALLED` (no such pod here), `P2_PODS_NO_SUCH_LAUNCHABLE`
 * @example
 * ```ts
 * const services = await podServiceDirs({ podRoot: '/data/pods', serviceRoot: '/var/service', podId: 'hello' });
 * ```
 */
export async function podServiceDirs(options: {
  podRoot: string;
  serviceRoot: string;
  podId: string;
  uniqueKey?: string;
  launchableId?: string;
}): Promise<PodService[]> {
  const layout = new PodLayout(options.podRoot, options.podId, options.uniqueKey ?? '');
  const manifest = await currentManifest(layout);
  if (!manifest)
    throw new PodError(PodErrorCode.NOT_INSTALLED, `pod ${options.podId} is not installed here`, {
      hint: 'check the pod id (and --uuid, --pod-root)',
      details: { pod: options.podId },
    });
  const byLaunchable = await serviceNamesByLaunchable(options.serviceRoot, manifest, layout);
  if (options.launchableId !== undefined && !byLaunchable.has(options.launchableId))
    throw new PodError(
      PodErrorCode.NO_SUCH_LAUNCHABLE,
      `pod ${options.podId} has no launchable ${options.launchableId}`,
      {
        hint: `its launchables: ${[...byLaunchable.keys()].join(', ')}`,
        details: { pod: options.podId },
      },
    );
  return [...byLaunchable].flatMap(([launchable, names]) =>
    options.launchableId !== undefined && launchable !== options.launchableId
      ? []
      : names.map((service) => ({ service, launchable, dir: join(options.serviceRoot, service) })),
  );
}
