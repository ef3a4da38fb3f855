/**
 * A pod's whole life on one host (spec 02 §2): install, launch, halt, uninstall — composed from
 * @p2/users, @p2/hoist, @p2/runit and @p2/cgroups, on P2's on-disk layout. `PodHost` holds one
 * host's settings and caches; each job lives in its own module (`install`, `launch`, `halt`,
 * `inventory`, `home`, `accounts`, `pod-cgroups`, `scripts`).
 */
import { join } from 'node:path';
import type { CgroupLocation } from '@p2/cgroups';
import type { Manifest } from '@p2/manifest';
import type { UnixUser } from '@p2/users';
import { PodAccounts } from './accounts.js';
import { type ExecOptions, type ExecPlan, planExec } from './exec.js';
import { haltPod, uninstallPod } from './halt.js';
import { installPod, isReadOnly } from './install.js';
import {
  currentManifest,
  installedPods,
  podServices,
  runningManifest,
  serviceStates,
} from './inventory.js';
import {
  activatePod,
  entryPointScripts,
  launchPod,
  prunePodInstalls,
  restartServices,
} from './launch.js';
import { HOOK_PODS_DIR, PodLayout } from './layout.js';
import { launchableCgroupOf } from './pod-cgroups.js';
import { consumeStaged, stagePod } from './stage.js';
import {
  type EntryPointScript,
  type HostContext,
  type InstalledPod,
  type InstallOptions,
  type InstallReport,
  type LaunchOptions,
  type LaunchReport,
  type PodHostOptions,
  type PodRef,
  type ServiceState,
  type StageReport,
  silent,
} from './types.js';

/**
 * Installs, launches, halts and uninstalls pods on this host.
 *
 * @example
 * ```ts
 * const host = new PodHost({ nodeName: 'h1', runsvdir, cgroups: await detectCgroups() });
 * await host.install(manifest);
 * await host.launch(manifest);  // services run as the pod's user, in its cgroup
 * await host.uninstall({ podId: manifest.id });
 * ```
 */
export class PodHost {
  readonly podRoot: string;
  readonly nodeName: string;
  /** Settings, logger and caches the job modules share. */
  private readonly context: HostContext;
  private hookPodHost: HookPodHost | undefined;

  /**
   * @param hookPods - internal: this is {@link PodHost.hookPods}' host
   */
  constructor(
    private readonly options: PodHostOptions,
    hookPods = false,
  ) {
    this.podRoot = options.podRoot ?? '/data/pods';
    this.nodeName = options.nodeName;
    this.context = {
      podRoot: this.podRoot,
      nodeName: this.nodeName,
      options,
      logger: options.logger ?? silent,
      accounts: new PodAccounts(this.podRoot, options, hookPods),
      podRootTrusted: false,
      hookPods,
    };
  }

  /**
   * This host's hook pods (P2's `<pod_root>/hooks/<hook-pod-id>`, spec 02 §6.2): installed with
   * this host's settings — artifact and digest verification, downloads, cgroups, the run_as policy,
   * in which a hook pod is named `hooks/<id>` — but never supervised by runit, never read-only,
   * without a require file, and with cgroups under `p2/<node>/hooks/`. Their users and the pods'
   * are kept apart: a pod may not run as a hook pod's user, nor a hook pod as a pod's.
   */
  hookPods(): HookPodHost {
    if (this.context.hookPods) return this;
    const { requireFile: _requireFile, readOnlyDefault: _readOnly, ...shared } = this.options;
    this.hookPodHost ??= new PodHost(
      { ...shared, podRoot: join(this.podRoot, HOOK_PODS_DIR) },
      true,
    );
    return this.hookPodHost;
  }

  layout(ref: PodRef): PodLayout {
    return new PodLayout(this.podRoot, ref.podId, ref.uniqueKey ?? '');
  }

  /**
   * The cgroup a launchable's processes join on this host (its naming, node and parent), relative
   * to each controller's mount — what a process started beside the pod's services must join.
   * @throws PodError `P2_PODS_INVALID_LAUNCHABLE_ID`; CgroupsError `P2_CGROUPS_INVALID_NAME`
   * @example host.launchableCgroup({ podId: 'hello' }, 'app') // { parent: '', name: 'hello__app' }
   */
  launchableCgroup(ref: PodRef, launchableId: string): CgroupLocation {
    return launchableCgroupOf(this.context, this.layout(ref), launchableId);
  }

  /** Whether the pod is read-only: the manifest's `readonly`, else the node's default. */
  readOnly(manifest: Manifest): boolean {
    return isReadOnly(this.options, manifest);
  }

  /**
   * Checks the manifest's `run_as` against this host's policy ({@link RunAsPolicy}) before any user
   * is created or any file written.
   * @returns the account, when it exists already
   * @throws PodError `P2_PODS_RUN_AS_REFUSED`
   */
  async checkRunAs(manifest: Manifest): Promise<UnixUser | undefined> {
    return this.context.accounts.checkRunAs(manifest);
  }

  /**
   * Downloads, verifies and extracts every launchable and writes the config and env dirs
   * (spec 02 §2.5). Installing an installed version again downloads nothing.
   *
   * @throws PodError `P2_PODS_UNSUPPORTED_LAUNCHABLE`, `P2_PODS_CONTAINER_REFUSED`, `P2_PODS_INSTALL_FAILED` (cause: the hoist,
   *   users or I/O error)
   */
  async install(
    manifest: Manifest,
    options: Omit<InstallOptions, 'podId'> = {},
  ): Promise<InstallReport> {
    return installPod(this.context, manifest, options);
  }

  /**
   * Pre-stages a manifest (issue 21): its user and home made if missing, every launchable's
   * artifact downloaded, verified (digest, signature, tree digest, container bundle) and extracted
   * into `installs/`, exactly as {@link PodHost.install} would — and nothing else: `current`, the
   * config and env dirs and the services stay as they are, so a running version keeps running.
   * The staged installs are marked so that pruning keeps them; a later install of the same
   * version finds them on disk and downloads nothing.
   *
   * @throws PodError as {@link PodHost.install}
   * @example
   * ```ts
   * const report = await host.stage(manifest); // report.launchables[0].installDir
   * ```
   */
  async stage(
    manifest: Manifest,
    options: Omit<InstallOptions, 'podId'> = {},
  ): Promise<StageReport> {
    return stagePod(this.context, manifest, options);
  }

  /**
   * Drops the staged marks {@link PodHost.stage} made (a withdrawn pre-stage), where they still
   * name those installs; the installs stay on disk for pruning to reclaim.
   */
  async unstage(podId: string, staged: StageReport): Promise<void> {
    const layout = this.layout({ podId, uniqueKey: '' });
    for (const l of staged.launchables) await consumeStaged(layout, l.launchableId, l.installDir);
  }

  /** Names of the runit services that belong to a pod (by P2's `<unique name>__` prefix). */
  async podServices(layout: PodLayout): Promise<string[]> {
    return podServices(this.options.runsvdir.root, layout);
  }

  /**
   * Makes an installed manifest run (spec 02 §2.9): switches `current`, runs `bin/post-activate`,
   * writes and (re)starts the runit services (removing services the new version no longer has),
   * runs `bin/enable`, and only then writes `current_manifest.yaml` — unlike P2, which wrote it
   * first, so a crash mid-launch left a manifest on disk claiming a version that never started.
   *
   * @throws PodError `P2_PODS_LAUNCH_FAILED`, `P2_PODS_START_FAILED`, `P2_PODS_SERVICE_NAME_CLASH`
   */
  async launch(manifest: Manifest, ref: LaunchOptions = {}): Promise<LaunchReport> {
    return launchPod(this.context, manifest, ref);
  }

  /**
   * Makes an installed manifest current without running anything: every launchable's `current`
   * link switched to the manifest's install (`last` to the one before), then
   * `current_manifest.yaml` written. For pods whose entry points are run by someone else (the
   * preparer's hook pods, whose executors run {@link PodHost.entryPointScripts}).
   *
   * @throws PodError `P2_PODS_NOT_INSTALLED`, `P2_PODS_UNTRUSTED_PATH`, `P2_PODS_LAUNCH_FAILED`
   */
  async activate(manifest: Manifest, ref: Omit<PodRef, 'podId'> = {}): Promise<void> {
    return activatePod(this.context, manifest, ref);
  }

  /**
   * The `run` script each entry point of an installed manifest would get as a runit service —
   * the launchable's cgroup joined (made now, with the manifest's limits), `setpriv` to `run_as`,
   * and only then the pod and launchable env dirs loaded with `chpst -e` — without supervising
   * anything, and without `setsid`: whoever runs a script owns its process group. The preparer's
   * hook executors are these scripts.
   *
   * @throws PodError `P2_PODS_NOT_INSTALLED`, `P2_PODS_UNTRUSTED_PATH`,
   *   `P2_PODS_SERVICE_NAME_CLASH`, `P2_PODS_RUN_AS_REFUSED`, `P2_PODS_LAUNCH_FAILED`
   */
  async entryPointScripts(
    manifest: Manifest,
    ref: Omit<PodRef, 'podId'> = {},
  ): Promise<EntryPointScript[]> {
    return entryPointScripts(this.context, manifest, ref);
  }

  /**
   * Deletes old installs of each launchable of the manifest, as a launch does (P2 §2.13: oldest
   * first until `maxLaunchableDiskUsage`, never `current` or `last`). With `onlyCurrent`, keeps
   * nothing but `current`: `last` and every other install go, and so do the directories of
   * launchables the manifest no longer has (hook pods, which nothing halts back to).
   *
   * @returns what was removed (`<launchable>/installs/<dir>`, or a launchable directory)
   * @throws HoistError `P2_HOIST_IO` when an install cannot be listed or removed
   */
  async pruneInstalls(
    manifest: Manifest,
    options: Omit<PodRef, 'podId'> & { onlyCurrent?: boolean } = {},
  ): Promise<string[]> {
    return prunePodInstalls(this.context, manifest, options);
  }

  /** Sends restart to services without waiting (see `deferRestarts`). */
  async restartServices(names: readonly string[]): Promise<void> {
    return restartServices(this.options.runsvdir.root, names);
  }

  /**
   * Stops a pod (spec 02 §2.10): `bin/disable` within the termination grace period, then stops every
   * service (skipping `no_halt_on_update` launchables unless `force`), and points `last` at the
   * stopped install.
   *
   * @throws PodError `P2_PODS_HALT_FAILED` when a service did not stop
   */
  async halt(
    manifest: Manifest,
    options: Omit<PodRef, 'podId'> & { force?: boolean } = {},
  ): Promise<void> {
    return haltPod(this.context, manifest, options);
  }

  /**
   * Removes a pod from this host (spec 02 §2.11): halts what runs, removes its services and cgroups,
   * deletes its home. Uninstalling a pod that is not installed is a no-op.
   *
   * @throws PodError `P2_PODS_UNINSTALL_FAILED`
   */
  async uninstall(ref: PodRef & { alreadyHalted?: boolean }): Promise<void> {
    return uninstallPod(this.context, ref);
  }

  /**
   * The manifest a pod last launched with (`current_manifest.yaml`), or undefined when there is
   * none. Root decides from it what to halt and as whom to run `bin/disable`, so it is read only
   * from a root-owned home, as a root-owned regular file nobody else can write (no link, FIFO or
   * device), at most 4 MiB; the error never quotes the file.
   * @throws PodError `P2_PODS_UNTRUSTED_PATH`; ManifestError when it does not parse
   */
  async currentManifest(layout: PodLayout): Promise<Manifest | undefined> {
    return currentManifest(layout);
  }

  /** Pods found under the pod root (a home with a `current_manifest.yaml`), for rebuilding reality. */
  async installedPods(): Promise<InstalledPod[]> {
    return installedPods(this.podRoot);
  }

  /**
   * The manifest a pod runs now: its `current_manifest.yaml`, provided every one of its services is
   * supervised and running (or deliberately down, for restart policy `never`); else undefined.
   * With `requireServices`, a pod without any service does not count as running.
   */
  async runningManifest(
    ref: PodRef & { requireServices?: boolean },
  ): Promise<Manifest | undefined> {
    return runningManifest(this.podRoot, this.options.runsvdir.root, ref);
  }

  /**
   * How to run a command in one of an installed pod's launchables the way its services run (P2's
   * p2-exec; `p2 exec`): as the pod's user (after the host's run_as policy allowed it), in the
   * launchable's cgroup and install directory, with the file limit lifted, the require file its
   * services check, and the pod and launchable env dirs loaded only after the privilege drop —
   * through `@p2/runit`'s `renderRunAs`, the chain of the run script. Spawn the plan as root.
   *
   * @throws PodError `P2_PODS_NO_SUCH_LAUNCHABLE`, `P2_PODS_NOT_INSTALLED` (its user or install is
   *   missing), `P2_PODS_RUN_AS_REFUSED`, `P2_PODS_UNTRUSTED_PATH`, `P2_PODS_REQUIRE_FILE_MISSING`,
   *   `P2_PODS_EXEC_INVALID`
   * @example
   * ```ts
   * const plan = await host.execPlan(manifest, { command: ['id', '-u'] });
   * spawn(plan.file, plan.args, { env: plan.env, stdio: 'inherit' });
   * ```
   */
  async execPlan(manifest: Manifest, options: ExecOptions): Promise<ExecPlan> {
    return planExec(this.context, manifest, options);
  }

  /** Status of every service of a pod, read from runit's `supervise/`. */
  async services(manifest: Manifest, ref: Omit<PodRef, 'podId'> = {}): Promise<ServiceState[]> {
    return serviceStates(
      this.options.runsvdir.root,
      manifest,
      new PodLayout(this.podRoot, manifest.id, ref.uniqueKey ?? ''),
    );
  }
}

/**
 * What a host does with its hook pods ({@link PodHost.hookPods}): install, activate, render their
 * entry points' scripts, prune, uninstall — never launch, halt or supervise.
 */
export type HookPodHost = Pick<
  PodHost,
  | 'podRoot'
  | 'layout'
  | 'checkRunAs'
  | 'install'
  | 'activate'
  | 'entryPointScripts'
  | 'pruneInstalls'
  | 'currentManifest'
  | 'installedPods'
  | 'uninstall'
>;
