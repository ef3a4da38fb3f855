/**
 * A pod installed and run on this host without a store, as P2's p2-launch did: a `PodHost` on a
 * runsvdir over the service root and the host's cgroups, deployed by {@link deployPod} — no store,
 * so no reality; no hooks; the previous version is not halted (P2's p2-launch did not).
 */
import { type AuthConfig, createDeployerPolicy } from '@p2/auth';
import { type CgroupNaming, detectCgroups, normalizeCgroupPath } from '@p2/cgroups';
import { DEFAULT_LOCAL_ARTIFACT_DIR, type FetchOptions } from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import { type InstallOptions, PodHost } from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import { deployPod } from './deploy.js';

/** Where and how {@link launchPod} runs a pod. */
export interface LaunchPodOptions {
  /** Node name for cgroups and the pod's environment. */
  nodeName: string;
  /** Where pods live. */
  podRoot: string;
  /** The runit service directory a runsvdir watches. */
  serviceRoot: string;
  /** Start the pod's services; `false` only installs and switches the `current` links. @default true */
  start?: boolean;
  /**
   * The deployer policy (P2's `none`, `keyring` or `user`, as the preparer's `auth:`), checked
   * before any supervision starts. @default { type: 'none' }
   */
  auth?: AuthConfig;
  /** P2's `require_file`: the pod's services refuse to start unless this file exists. */
  requireFile?: string;
  /** TLS for artifact downloads: the CA to trust, a client certificate and its key (PEM). */
  tls?: Pick<FetchOptions, 'ca' | 'cert' | 'key'>;
  /** The host's run_as policy, as the preparer's `run_as_min_uid`. @default 1000 */
  runAsMinUid?: number;
  /** Accounts this pod may run as although the run_as policy refuses them. @default [] */
  allowRunAs?: string[];
  /**
   * Absolute directories `file:` and plain-path artifact locations may also be read from, besides
   * `@p2/hoist`'s `DEFAULT_LOCAL_ARTIFACT_DIR`. @default []
   */
  localArtifactDirs?: string[];
  /**
   * The artifact registry `version:` launchables are resolved through (P2's `p2-launch -r`); a
   * manifest's `artifact_registry` wins.
   */
  artifactRegistryUrl?: string;
  /** The release file the registry is told the OS from. @default /etc/redhat-release, else /etc/os-release */
  osVersionFile?: string;
  /** Apply cgroup limits when the host has cgroups. @default true */
  cgroups?: boolean;
  /**
   * How the pod's cgroups are named, as the preparer's `params.nested_cgroups` and `cgroup_parent`
   * (give the preparer's, or its next deploy moves the pod). @default {} (P2's flat names)
   */
  cgroupNaming?: CgroupNaming;
  /** Download progress per launchable. */
  onProgress?: InstallOptions['onProgress'];
}

/** What {@link launchPod} did (what `p2 launch --json` prints). */
export interface LocalLaunch {
  pod: string;
  node: string;
  sha: string;
  podHome: string;
  configPath: string;
  /** Each launchable's install; `location`: where it was fetched from now (absent when installed). */
  launchables: Array<{
    id: string;
    installDir: string;
    alreadyInstalled: boolean;
    location?: string;
  }>;
  /** Whether services were started (`start`). */
  started: boolean;
  services: string[];
  /** Whether cgroup limits apply. */
  cgroups: boolean;
}

/**
 * Installs and runs `manifest` on this host without a store (P2's p2-launch): the deployer policy
 * (with `keyring`) first, then a runsvdir on `serviceRoot` (only when starting), then
 * {@link deployPod}, which also checks the run_as policy. A running pod is redeployed.
 *
 * @throws AuthError (`P2_AUTH_*`) when the deployer policy refuses the manifest or its files cannot be read; PodError
 *   `P2_PODS_RUN_AS_REFUSED` when the run_as policy does; a step's own error when it fails.
 * @example
 * ```ts
 * const launched = await launchPod(manifest, {
 *   nodeName: 'h1',
 *   podRoot: '/data/pods',
 *   serviceRoot: '/var/service',
 * });
 * console.log(launched.services);
 * ```
 */
export async function launchPod(
  manifest: Manifest,
  options: LaunchPodOptions,
): Promise<LocalLaunch> {
  const start = options.start ?? true;
  if (options.auth && options.auth.type !== 'none') {
    // The deployer policy, checked before any supervision starts (run_as: by deployPod).
    await (await createDeployerPolicy(options.auth)).authorize(manifest);
  }
  const runsvdir = new RunsvDir({ root: options.serviceRoot, slots: 0 });
  // Only installing needs no supervision, so none is started.
  if (start) await runsvdir.start();
  const cgroups =
    (options.cgroups ?? true) ? await detectCgroups().catch(() => false as const) : false;
  const host = new PodHost({
    podRoot: options.podRoot,
    nodeName: options.nodeName,
    runsvdir,
    cgroups,
    cgroupNaming: checkedNaming(options.cgroupNaming),
    // The same run_as policy as the preparer's (run_as_min_uid, run_as_allow).
    runAs: {
      minUid: options.runAsMinUid ?? 1000,
      allow: { [manifest.id]: options.allowRunAs ?? [] },
    },
    // Local locations only from these directories, as the preparer does (see @p2/hoist).
    fetch: {
      ...options.tls,
      localRoots: [DEFAULT_LOCAL_ARTIFACT_DIR, ...(options.localArtifactDirs ?? [])],
    },
    ...(options.artifactRegistryUrl ? { artifactRegistry: options.artifactRegistryUrl } : {}),
    ...(options.osVersionFile ? { osVersionFile: options.osVersionFile } : {}),
    ...(options.requireFile ? { requireFile: options.requireFile } : {}),
  });
  const deployed = await deployPod({ host }, manifest, {
    whenRunning: 'redeploy',
    haltPrevious: false,
    start,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  if (deployed.outcome === 'unauthorized') throw deployed.error;
  if (deployed.outcome !== 'deployed') throw new Error('unreachable: a launch redeploys');
  const { installed } = deployed;
  return {
    pod: manifest.id,
    node: options.nodeName,
    sha: manifest.sha(),
    podHome: installed.podHome,
    configPath: installed.configPath,
    launchables: installed.launchables.map((l) => ({
      id: l.launchableId,
      installDir: l.installDir,
      alreadyInstalled: l.alreadyInstalled,
      ...(l.location === undefined ? {} : { location: l.location }),
    })),
    started: start,
    services: deployed.launched?.services ?? [],
    cgroups: cgroups !== false,
  };
}

/**
 * A cgroup naming given by a person (flags): its parent checked and normalised.
 * @throws CgroupsError `P2_CGROUPS_INVALID_NAME`
 * @internal
 */
export function checkedNaming(naming: CgroupNaming = {}): CgroupNaming {
  return {
    nested: naming.nested === true,
    parent: normalizeCgroupPath(naming.parent ?? ''),
  };
}
