/**
 * The options and reports of {@link PodHost}, and what its parts share (`HostContext`).
 */

import type { CgroupHierarchy, CgroupNaming } from '@p2/cgroups';
import type { ArtifactVerifier, DownloadProgress, FetchOptions } from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import type { RunsvDir, ServiceStatus } from '@p2/runit';
import type { PodAccounts } from './accounts.js';
import type { ContainerOptions } from './container.js';
import type { PodLayout } from './layout.js';
import type { RunAsPolicy } from './run-as.js';
import type { ScriptResult } from './scripts.js';

/** The subset of a pino logger this package uses. */
export interface PodLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (the default). @internal */
export const silent: PodLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Checks the signature over a launchable's digest file (the host's deployer keyring, spec 02 §7.2). */
export type DigestSignatureVerifier = (
  digest: Uint8Array,
  signature: Uint8Array | undefined,
  location: string,
) => Promise<void>;

export interface PodHostOptions {
  /** @default '/data/pods' */
  podRoot?: string;
  nodeName: string;
  /** The runsvdir pod services live under. */
  runsvdir: RunsvDir;
  /** cgroup hierarchy for pod limits; `false` runs pods without cgroups (e.g. unprivileged tests). */
  cgroups: CgroupHierarchy | false;
  /**
   * How pod cgroups are named and where: P2's flat `<pod>__<launchable>` directly under each
   * controller's mount, or `{ nested: true }` for `p2/<node>/<pod>/<launchable>` (the preparer's
   * `params.nested_cgroups`), below `parent` (its `cgroup_parent`). Processes of an earlier naming
   * move at the pod's next launch. @default {} (flat, at the mount root, as P2)
   */
  cgroupNaming?: CgroupNaming;
  /**
   * With nested names, limit the pod's own cgroup `p2/<node>/<pod>` — the parent of its
   * launchables' — by the manifest's `resource_limits.cgroup` (P2's `params.include_pod_id_arg`,
   * `p2-exec --podID`). Without nested names there is no pod cgroup, and this does nothing.
   * @default false
   */
  podCgroupLimits?: boolean;
  /** Read-only default for pods whose manifest does not say (P2's node policy). @default () => false */
  readOnlyDefault?: (podId: string) => boolean;
  /** Create the run-as user (and group) when missing; P2 required it to exist. @default true */
  createUsers?: boolean;
  /** Checks artifacts before extraction (from @p2/auth's artifact policy). */
  artifactVerifier?: ArtifactVerifier;
  /** Checks digest signatures (from @p2/auth). Without it a `digest_location` is verified unsigned. */
  digestSignatureVerifier?: DigestSignatureVerifier;
  /** Download settings (CA, timeouts, retries); registry queries use them too. */
  fetch?: Omit<FetchOptions, 'onProgress' | 'logger'>;
  /**
   * P2's `artifact_registry_url`: the registry `version:` launchables are resolved through
   * (`GET <registry>/discover/<pod id>?…`). A manifest's own `artifact_registry` wins. Without
   * either, installing a `version:` launchable fails with `P2_HOIST_REGISTRY_MISSING`.
   */
  artifactRegistry?: string;
  /**
   * P2's `os_version_file`: the release file whose OS and version the registry is told. Read only
   * for `version:` launchables, as root may trust it (root's, writable by nobody else).
   * @default '/etc/redhat-release' (P2's), else '/etc/os-release'
   */
  osVersionFile?: string;
  /** P2's `require_file`: services refuse to start unless it exists. */
  requireFile?: string;
  /** Bytes of old installs kept per launchable. @default 10 GiB */
  maxLaunchableDiskUsage?: number;
  /** Upper bound on `termination_grace_period` for `bin/disable` (P2 default: 1 hour). @default 3600000 */
  maxDisableMs?: number;
  /** Which accounts pods may run as (see {@link RunAsPolicy}). @default { minUid: 1000, allow: {} } */
  runAs?: RunAsPolicy;
  /**
   * The user every service's log command (svlogd, or `serviceHelpers.logExec`) and finish command
   * run as; no pod may run as it. @default 'nobody'
   */
  logUser?: string;
  /**
   * The host's log and finish commands for every pod service (the preparer's `log_exec`,
   * `log_bridge_blacklist`, `finish_exec`), written at each launch. Undefined: services keep the
   * ones they have and new services get svlogd and none — for tools that do not read the
   * preparer's config (`p2 restart`, `p2 launch`), so they never undo it.
   */
  serviceHelpers?: ServiceHelpers;
  /** How container (`opencontainer`) launchables run: runc, its state and spec dirs, allowances. @default {} */
  containers?: ContainerOptions;
  logger?: PodLogger;
}

/**
 * The log and finish commands of every pod service. Both run as the log user (never root, never
 * the pod's user), with only this environment (and `PATH`): `POD_ID`, `POD_UNIQUE_KEY` (uuid pods),
 * `POD_HOME`, `LAUNCHABLE_ID`, `ENTRY_POINT`, `P2_SERVICE` (the runit service), `P2_NODE`. Never
 * the pod's env dirs: they hold the pod's secrets, readable by its user alone.
 */
export interface ServiceHelpers {
  /** Log command in place of svlogd (`log_exec`); stdin is the service's output. @default svlogd */
  logExec?: string[];
  /** Pods (by id) whose services get plain svlogd anyway (`log_bridge_blacklist`). @default [] */
  logBridgeBlacklist?: string[];
  /** Run after each exit of a service, with its exit code and wait status (`finish_exec`). */
  finishExec?: string[];
}

export interface PodRef {
  podId: string;
  /** Empty for legacy pods. */
  uniqueKey?: string;
}

export interface LaunchableInstallReport {
  launchableId: string;
  installDir: string;
  alreadyInstalled: boolean;
  /** Where the artifact was fetched from (credentials redacted); absent when already installed. */
  location?: string;
  timings?: { fetchMs: number; verifyMs: number; extractMs: number };
}

export interface InstallReport {
  podHome: string;
  readOnly: boolean;
  configPath: string;
  launchables: LaunchableInstallReport[];
}

/** What {@link PodHost.stage} did: the launchables' installs, nothing else. */
export interface StageReport {
  podHome: string;
  launchables: LaunchableInstallReport[];
}

export interface LaunchReport {
  services: string[];
  /**
   * With `deferRestarts`: services whose new run script is written but whose process still runs the
   * old version; restart them with {@link PodHost.restartServices} once the launch is recorded.
   */
  pendingRestarts: string[];
  removedServices: string[];
  /** Scripts that ran (post-activate, enable) and their outcomes; failures are warnings, as in P2. */
  scripts: Array<{ launchableId: string; script: string; result: ScriptResult }>;
  /** Milliseconds spent in each part of the launch (activate, runit, enable, commit). */
  timings: Record<string, number>;
}

/** The run script of one entry point of an installed pod (see `PodHost.entryPointScripts`). */
export interface EntryPointScript {
  launchableId: string;
  /** The entry point relative to the install (`bin/launch`, `bin/launch/worker`). */
  entryPoint: string;
  /** Its runit service name, P2's `<pod>__<launchable>__<entry>`. */
  name: string;
  /** The whole `#!/bin/sh` script (see `@p2/runit`'s `renderRunScript`). */
  script: string;
}

export interface InstalledPod {
  layout: PodLayout;
  /** Undefined when `current_manifest.yaml` is missing or unreadable (see `error`). */
  manifest?: Manifest;
  error?: string;
}

export interface ServiceState {
  name: string;
  launchableId: string;
  status?: ServiceStatus;
  error?: string;
}

export interface InstallOptions extends PodRef {
  onProgress?: (launchableId: string, progress: DownloadProgress) => void;
  signal?: AbortSignal;
}

/** Options of {@link PodHost.launch}: which pod (its uuid), and whether to defer restarts. */
export type LaunchOptions = Omit<PodRef, 'podId'> & {
  /**
   * Leave running services of the old version running and report them in `pendingRestarts`:
   * for the preparer's own pod, whose restart ends the process doing the launch.
   */
  deferRestarts?: boolean;
};

/** The account a pod's processes run as. @internal */
export interface PodUser {
  uid: number;
  gid: number;
  name: string;
}

/** What the parts of one {@link PodHost} share: its settings, logger and caches. @internal */
export interface HostContext {
  readonly podRoot: string;
  readonly nodeName: string;
  readonly options: PodHostOptions;
  readonly logger: PodLogger;
  /** The run-as accounts this host resolved, and which pod runs as whom. */
  readonly accounts: PodAccounts;
  /**
   * Whether this host holds the preparer's hook pods (`<pod_root>/hooks`): never supervised by
   * runit, never read-only, no require file, cgroups under `p2/<node>/hooks/`.
   */
  readonly hookPods: boolean;
  /** Whether the pod root and every directory above it were found root's alone (checked once). */
  podRootTrusted: boolean;
}
