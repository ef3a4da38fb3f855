/**
 * A pod's whole life on one host (spec 02 §2): install, launch, halt, uninstall — composed from
 * @p2/users, @p2/hoist, @p2/runit and @p2/cgroups, on P2's on-disk layout.
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, lstat, mkdir, readdir, rename, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type CgroupHierarchy, cgroupName, createCgroup, openCgroup } from '@p2/cgroups';
import { describeError } from '@p2/errors';
import {
  type ArtifactVerifier,
  activateInstall,
  type DownloadProgress,
  discoverEntryPoints,
  discoverScripts,
  type FetchOptions,
  fetchBytes,
  installArtifact,
  installDirName,
  pruneInstalls,
  readLink,
  switchLink,
  verifyInstallDigest,
} from '@p2/hoist';
import { type Manifest, parseManifest } from '@p2/manifest';
import {
  down,
  once,
  type RunsvDir,
  readStatus,
  restart,
  type ServiceSpec,
  type ServiceStatus,
} from '@p2/runit';
import {
  distrustAncestors,
  distrustDir,
  ensureTrustedDir,
  readTrustedFile,
  removeTree,
  writeFileAtomic,
} from '@p2/secure-fs';
import { ensureUser, findUser, lookupUser, type UnixUser } from '@p2/users';
import { writeEnvDir } from './envdir.js';
import { PodError, PodErrorCode } from './errors.js';
import { assertSafeLaunchableId, PodLayout } from './layout.js';
import { checkRunAs, type RunAsPolicy } from './run-as.js';
import { runScript, type ScriptResult } from './scripts.js';

/**
 * The one `cgroup.procs` a lifecycle script joins: the memory hierarchy's on cgroup v1 (the only
 * one on v2). Its memory counts against the pod, and whatever it leaves running is found and
 * killed with the pod's cgroups. Each further hierarchy is another cgroup migration, which during
 * a burst of deploys cost ~35 ms per script (measured: `pnpm bench preparer`, bin/enable p50
 * 34 → 108 ms when joining cpu, memory and pids).
 */
function scriptCgroupProcs(files: readonly string[]): string[] {
  if (files.length <= 1) return [...files];
  const memory = files.find((file) => file.split('/').includes('memory'));
  return [memory ?? (files[0] as string)];
}

/** Largest `current_manifest.yaml` root reads back. */
const MAX_MANIFEST_BYTES = 4 * 2 ** 20;

/** The subset of a pino logger this package uses. */
export interface PodLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: PodLogger = { debug() {}, info() {}, warn() {}, error() {} };

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
  /** Read-only default for pods whose manifest does not say (P2's node policy). @default () => false */
  readOnlyDefault?: (podId: string) => boolean;
  /** Create the run-as user (and group) when missing; P2 required it to exist. @default true */
  createUsers?: boolean;
  /** Checks artifacts before extraction (from @p2/auth's artifact policy). */
  artifactVerifier?: ArtifactVerifier;
  /** Checks digest signatures (from @p2/auth). Without it a `digest_location` is verified unsigned. */
  digestSignatureVerifier?: DigestSignatureVerifier;
  /** Download settings (CA, timeouts, retries). */
  fetch?: Omit<FetchOptions, 'onProgress' | 'logger'>;
  /** P2's `require_file`: services refuse to start unless it exists. */
  requireFile?: string;
  /** Bytes of old installs kept per launchable. @default 10 GiB */
  maxLaunchableDiskUsage?: number;
  /** Upper bound on `termination_grace_period` for `bin/disable` (P2 default: 1 hour). @default 3600000 */
  maxDisableMs?: number;
  /** Which accounts pods may run as (see {@link RunAsPolicy}). @default { minUid: 1000, allow: {} } */
  runAs?: RunAsPolicy;
  /** The user svlogd writes service logs as; no pod may run as it. @default 'nobody' */
  logUser?: string;
  logger?: PodLogger;
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
  timings?: { fetchMs: number; verifyMs: number; extractMs: number };
}

export interface InstallReport {
  podHome: string;
  readOnly: boolean;
  configPath: string;
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
  private readonly logger: PodLogger;

  constructor(private readonly options: PodHostOptions) {
    this.podRoot = options.podRoot ?? '/data/pods';
    this.nodeName = options.nodeName;
    this.logger = options.logger ?? silent;
  }

  layout(ref: PodRef): PodLayout {
    return new PodLayout(this.podRoot, ref.podId, ref.uniqueKey ?? '');
  }

  /** Whether the pod is read-only: the manifest's `readonly`, else the node's default. */
  readOnly(manifest: Manifest): boolean {
    return manifest.readonly ?? this.options.readOnlyDefault?.(manifest.id) ?? false;
  }

  /** Run-as users already resolved by this host (user creation is serialised; lookups are not). */
  private readonly users = new Map<string, { uid: number; gid: number; name: string }>();

  private async runAsUser(
    manifest: Manifest,
    layout: PodLayout,
  ): Promise<{ uid: number; gid: number; name: string }> {
    // The policy check is also the lookup: an existing user needs one, not a turn in ensureUser's
    // serialised queue (which made a burst of 20 deploys wait ~0.5 s each for nothing).
    const existing = await this.checkRunAs(manifest);
    const name = manifest.runAs;
    const known = this.users.get(name);
    if (known && existing?.uid === known.uid && existing.gid === known.gid) return known;
    const user =
      existing ??
      (this.options.createUsers === false
        ? await lookupUser(name)
        : (await ensureUser({ name, home: layout.home, createHome: false })).user);
    const resolved = { uid: user.uid, gid: user.gid, name };
    this.users.set(name, resolved);
    return resolved;
  }

  /** Existing accounts looked up by the run_as check (a new account is looked up until it exists). */
  private readonly accounts = new Map<string, UnixUser>();

  /** Pod home name → its pod id and the user its trusted `current_manifest.yaml` runs as. */
  private runAsIndex: Map<string, { podId: string; runAs: string }> | undefined;

  private async podsByUser(): Promise<Map<string, { podId: string; runAs: string }>> {
    if (!this.runAsIndex) {
      const index = new Map<string, { podId: string; runAs: string }>();
      for (const pod of await this.installedPods())
        if (pod.manifest)
          index.set(pod.layout.uniqueName, { podId: pod.layout.podId, runAs: pod.manifest.runAs });
      this.runAsIndex = index;
    }
    return this.runAsIndex;
  }

  /**
   * Checks the manifest's `run_as` against this host's policy ({@link RunAsPolicy}) before any user
   * is created or any file written.
   * @returns the account, when it exists already
   * @throws PodError `P2_PODS_RUN_AS_REFUSED`
   */
  async checkRunAs(manifest: Manifest): Promise<UnixUser | undefined> {
    const user = manifest.runAs;
    let account: UnixUser | undefined = this.accounts.get(user);
    try {
      account ??= await findUser(user);
      if (account) this.accounts.set(user, account);
    } catch (error) {
      throw new PodError(
        PodErrorCode.RUN_AS_REFUSED,
        `pod ${manifest.id} may not run as ${JSON.stringify(user)}: ${describeError(error)}`,
        { cause: error, details: { pod: manifest.id, user } },
      );
    }
    let homeOfPod: string | undefined;
    if (account && dirname(resolve(account.home)) === resolve(this.podRoot)) {
      try {
        homeOfPod = PodLayout.fromHomeName(this.podRoot, basename(account.home)).podId;
      } catch {
        homeOfPod = undefined;
      }
    }
    let usedByPod: string | undefined;
    if (account && homeOfPod === undefined) {
      for (const pod of (await this.podsByUser()).values())
        if (pod.runAs === user && pod.podId !== manifest.id) usedByPod = pod.podId;
    }
    checkRunAs(this.options.runAs ?? {}, {
      podId: manifest.id,
      user,
      ...(account ? { account: { uid: account.uid, home: account.home } } : {}),
      ...(homeOfPod !== undefined ? { homeOfPod } : {}),
      ...(usedByPod !== undefined ? { usedByPod } : {}),
      logUser: this.options.logUser ?? 'nobody',
    });
    return account;
  }

  /** Whether the pod root and every directory above it are root's alone (checked once). */
  private podRootChecked = false;

  private async assertTrustedPodRoot(): Promise<void> {
    if (this.podRootChecked) return;
    await mkdir(this.podRoot, { recursive: true, mode: 0o755 });
    const bad = await distrustAncestors(this.podRoot);
    if (bad) {
      throw new PodError(
        PodErrorCode.UNTRUSTED_PATH,
        `pod root ${this.podRoot}: ${bad.dir} ${bad.why}, so another user could replace what root installs there`,
        {
          hint: `make ${bad.dir} owned by root and not writable by group or others (chown root ${bad.dir}; chmod go-w ${bad.dir})`,
          details: { podRoot: this.podRoot, dir: bad.dir },
        },
      );
    }
    this.podRootChecked = true;
  }

  /**
   * Makes the pod home root's (0755, not writable by the pod) with the pod's own writable `data/`
   * (0700, unless the pod is read-only). A home that is not root's alone — laid out by an older p2,
   * whose pod user owned it, or tampered with — is moved aside and deleted without following links,
   * then laid out afresh: root never reuses a directory a pod could have prepared.
   */
  private async prepareHome(
    manifest: Manifest,
    layout: PodLayout,
    user: { uid: number; gid: number },
    readOnly: boolean,
  ): Promise<void> {
    await this.assertTrustedPodRoot();
    // A missing home is simply made; anything else at that path must be root's alone.
    const why = (await lstat(layout.home).catch(() => undefined))
      ? await distrustDir(layout.home)
      : undefined;
    if (why) {
      const aside = join(
        this.podRoot,
        `.p2-untrusted-${layout.uniqueName}-${randomBytes(4).toString('hex')}`,
      );
      this.logger.warn(
        { pod: manifest.id, home: layout.home, reason: why },
        'pod home is not root-owned (older layout or tampered); laying it out afresh',
      );
      await rename(layout.home, aside);
      await removeTree(aside);
    }
    await ensureTrustedDir(layout.home, 0o755);
    if (!readOnly) {
      const created = await mkdir(layout.dataDir, { mode: 0o700 }).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') return false;
          throw error;
        },
      );
      const info = await lstat(layout.dataDir);
      if (!info.isDirectory()) throw new Error(`${layout.dataDir} is not a directory`);
      // The home is root's, so nobody but root can have put a link here since mkdir.
      if (created || info.uid !== user.uid || info.gid !== user.gid)
        await chown(layout.dataDir, user.uid, user.gid);
    }
  }

  /**
   * Downloads, verifies and extracts every launchable and writes the config and env dirs
   * (spec 02 §2.5). Installing an installed version again downloads nothing.
   *
   * @throws PodError `P2_PODS_UNSUPPORTED_LAUNCHABLE`, `P2_PODS_INSTALL_FAILED` (cause: the hoist,
   *   users or I/O error)
   */
  async install(
    manifest: Manifest,
    options: Omit<InstallOptions, 'podId'> = {},
  ): Promise<InstallReport> {
    const layout = this.layout({
      podId: manifest.id,
      ...(options.uniqueKey ? { uniqueKey: options.uniqueKey } : {}),
    });
    this.assertSupported(manifest);
    for (const launchableId of Object.keys(manifest.launchables))
      assertSafeLaunchableId(launchableId);
    const readOnly = this.readOnly(manifest);
    const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof PodError) throw error;
        throw new PodError(
          PodErrorCode.INSTALL_FAILED,
          `installing pod ${manifest.id}: ${what}: ${describeError(error)}`,
          {
            cause: error,
            ...(error &&
            typeof error === 'object' &&
            'hint' in error &&
            typeof error.hint === 'string'
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
    };
    const user = await step(`user ${manifest.runAs}`, () => this.runAsUser(manifest, layout));
    await this.assertReachable(manifest);
    await step('pod home', () => this.prepareHome(manifest, layout, user, readOnly));

    const launchables: LaunchableInstallReport[] = [];
    for (const [launchableId, stanza] of Object.entries(manifest.launchables)) {
      const launchableRoot = layout.launchableRoot(launchableId);
      const report = await step(`launchable ${launchableId}`, async () => {
        // Everything but data/ is root's: the pod can read its artifact, never change what root
        // later reads, runs, links to or prunes.
        await ensureTrustedDir(launchableRoot, 0o755);
        const result = await installArtifact({
          ...this.options.fetch,
          launchableRoot,
          launchableId,
          location: stanza.location,
          version: manifest.launchableVersion(launchableId),
          // Root owns the install; the pod must still read and run it, whatever modes it was packed with.
          shareReadAccess: true,
          ...(this.options.artifactVerifier ? { verifier: this.options.artifactVerifier } : {}),
          ...(options.onProgress
            ? { onProgress: (p: DownloadProgress) => options.onProgress?.(launchableId, p) }
            : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        return {
          launchableId,
          installDir: result.installDir,
          alreadyInstalled: result.alreadyInstalled,
          ...(result.alreadyInstalled ? {} : { timings: result.timings }),
        };
      });
      if (stanza.digestLocation) {
        await step(`digest of ${launchableId}`, () =>
          this.verifyDigest(manifest, launchableId, report.installDir),
        );
      }
      launchables.push(report);
    }

    const configPath = await step('config and env', () =>
      this.writeConfigAndEnv(manifest, layout, readOnly, { uid: user.uid, gid: user.gid }),
    );
    this.logger.info({ pod: manifest.id, launchables: launchables.length }, 'pod installed');
    return { podHome: layout.home, readOnly, configPath, launchables };
  }

  /** The pod's user must be able to reach its home: every directory above it needs o+x. */
  private async assertReachable(manifest: Manifest): Promise<void> {
    let dir = resolve(this.podRoot);
    for (;;) {
      const info = await stat(dir).catch(() => undefined);
      if (info && (info.mode & 0o001) === 0) {
        throw new PodError(
          PodErrorCode.INSTALL_FAILED,
          `pod ${manifest.id}: ${dir} (mode ${(info.mode & 0o777).toString(8)}) is not searchable by other users, so ${manifest.runAs} could not reach its pod home`,
          { hint: `chmod o+x ${dir}, or choose a pod_root below directories every user may enter` },
        );
      }
      const parent = dirname(dir);
      if (parent === dir) return;
      dir = parent;
    }
  }

  private assertSupported(manifest: Manifest): void {
    for (const [launchableId, stanza] of Object.entries(manifest.launchables)) {
      if (stanza.launchableType !== 'hoist') {
        throw new PodError(
          PodErrorCode.UNSUPPORTED_LAUNCHABLE,
          `pod ${manifest.id}: launchable ${launchableId} has launchable_type ${JSON.stringify(stanza.launchableType)}; this host runs hoist launchables`,
          { hint: 'use launchable_type: hoist (opencontainer and docker are not supported yet)' },
        );
      }
      if (!stanza.location) {
        throw new PodError(
          PodErrorCode.UNSUPPORTED_LAUNCHABLE,
          `pod ${manifest.id}: launchable ${launchableId} names a version but no location; artifact registries are not supported yet`,
          { hint: 'give the launchable a location: URL' },
        );
      }
    }
  }

  private async verifyDigest(
    manifest: Manifest,
    launchableId: string,
    installDir: string,
  ): Promise<void> {
    const stanza = manifest.launchables[launchableId];
    if (!stanza) return;
    const digest = await fetchBytes(stanza.digestLocation, this.options.fetch ?? {});
    const signatureLocation = stanza.digestSignatureLocation || undefined;
    const signature = signatureLocation
      ? await fetchBytes(signatureLocation, this.options.fetch ?? {})
      : undefined;
    if (this.options.digestSignatureVerifier) {
      await this.options.digestSignatureVerifier(digest, signature, stanza.digestLocation);
    }
    await verifyInstallDigest(installDir, digest.toString('utf8'));
  }

  private async writeConfigAndEnv(
    manifest: Manifest,
    layout: PodLayout,
    readOnly: boolean,
    owner: { uid: number; gid: number },
  ): Promise<string> {
    // Config files are named with the SHA after the read-only default was applied, as P2 did
    // (spec 01 §1.8.4); intent and reality are still compared with the original SHA.
    const files = manifest.withReadonlyDefault(readOnly).configFiles();
    await ensureTrustedDir(layout.configDir, 0o755);
    // Config may hold secrets: readable by the pod's user (0400, its own) and root only.
    const write = async (name: string, text: string) => {
      const path = join(layout.configDir, name);
      await writeFileAtomic(path, text, { mode: 0o400, uid: owner.uid, gid: owner.gid });
      return path;
    };
    const configPath = await write(files.configFileName, files.config);
    const platformPath = await write(files.platformFileName, files.platform);
    const podEnv: Record<string, string> = {
      CONFIG_PATH: configPath,
      PLATFORM_CONFIG_PATH: platformPath,
      POD_HOME: layout.home,
      POD_ID: manifest.id,
      POD_UNIQUE_KEY: layout.uniqueKey,
      // The pod's one writable place (p2: the home itself is root's); read-only pods have none.
      ...(readOnly
        ? { HOME: layout.home }
        : { HOME: layout.dataDir, POD_DATA_DIR: layout.dataDir }),
    };
    if (files.resourceLimitsFileName && files.resourceLimits !== undefined) {
      podEnv.RESOURCE_LIMIT_PATH = await write(files.resourceLimitsFileName, files.resourceLimits);
    }
    await writeEnvDir(layout.envDir, podEnv, { owner });
    for (const [launchableId, stanza] of Object.entries(manifest.launchables)) {
      const installDir = join(
        layout.installsDir(launchableId),
        installDirName(launchableId, manifest.launchableVersion(launchableId)),
      );
      await writeEnvDir(
        layout.launchableEnvDir(launchableId),
        {
          LAUNCHABLE_ID: launchableId,
          LAUNCHABLE_ROOT: installDir,
          RESTART_TIMEOUT: String(manifest.restartTimeoutSeconds(launchableId)),
          ...stanza.env,
        },
        { replace: true, owner },
      );
    }
    return configPath;
  }

  /**
   * Creates (or updates) a launchable's cgroup with the manifest's limits and returns the
   * `cgroup.procs` files its processes join — services and lifecycle scripts alike.
   */
  private async launchableCgroup(
    manifest: Manifest,
    layout: PodLayout,
    launchableId: string,
  ): Promise<string[]> {
    const stanza = manifest.launchables[launchableId];
    if (!this.options.cgroups || !stanza) return [];
    const cgroup = await createCgroup(
      this.options.cgroups,
      { name: this.launchableCgroupName(layout, launchableId) },
      { cpus: stanza.cgroup.cpus, memory: stanza.cgroup.memory },
    );
    return cgroup.procsFiles();
  }

  private launchableCgroupName(layout: PodLayout, launchableId: string): string {
    return cgroupName({ node: this.nodeName, pod: layout.uniqueName, launchable: launchableId });
  }

  /** The `cgroup.procs` files of a launchable's cgroup as it exists now (none when it is gone). */
  private existingCgroupProcs(layout: PodLayout, launchableId: string): string[] {
    if (!this.options.cgroups) return [];
    return openCgroup(this.options.cgroups, {
      name: this.launchableCgroupName(layout, launchableId),
    })
      .procsFiles()
      .filter((file) => existsSync(file));
  }

  /**
   * Refuses to act on a pod home that is not root's alone (see `prepareHome`).
   * @throws PodError `P2_PODS_UNTRUSTED_PATH`
   */
  private async assertTrustedHome(manifest: Manifest, layout: PodLayout): Promise<void> {
    const why = await distrustDir(layout.home);
    if (why)
      throw new PodError(
        PodErrorCode.UNTRUSTED_PATH,
        `pod ${manifest.id}: its home ${layout.home} ${why}; refusing to launch from it`,
        {
          hint: 'install the manifest again: install lays a home out afresh when it is not root-owned',
        },
      );
  }

  /** The runit services a manifest's launchables need, with their cgroups created. */
  private async serviceSpecs(
    manifest: Manifest,
    layout: PodLayout,
    procs: ReadonlyMap<string, string[]>,
  ): Promise<Array<{ launchableId: string; spec: ServiceSpec }>> {
    const specs: Array<{ launchableId: string; spec: ServiceSpec }> = [];
    const owners = new Map<string, string>();
    for (const [launchableId, stanza] of Object.entries(manifest.launchables)) {
      const installDir = join(
        layout.installsDir(launchableId),
        installDirName(launchableId, manifest.launchableVersion(launchableId)),
      );
      const entryPoints = await discoverEntryPoints(installDir, {
        entryPoints: stanza.entryPoints,
        naming: layout.uniqueKey ? 'uuid' : 'legacy',
      });
      const cgroupProcsFiles = procs.get(launchableId) ?? [];
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
        specs.push({
          launchableId,
          spec: {
            name,
            entryPoint: entry.path,
            entryPointEnv: entry.relativePath,
            user: manifest.runAs,
            envDirs: [layout.envDir, layout.launchableEnvDir(launchableId)],
            workingDir: installDir,
            cgroupProcsFiles,
            restartPolicy:
              stanza.restartPolicy === '' || stanza.restartPolicy === 'always' ? 'always' : 'never',
            restartTimeoutMs: manifest.restartTimeoutSeconds(launchableId) * 1000,
            ...(this.options.requireFile ? { requireFile: this.options.requireFile } : {}),
          },
        });
      }
    }
    return specs;
  }

  /** Names of the runit services that belong to a pod (by P2's `<unique name>__` prefix). */
  async podServices(layout: PodLayout): Promise<string[]> {
    const prefix = `${layout.uniqueName}__`;
    const entries = await readdir(this.options.runsvdir.root).catch(() => [] as string[]);
    return entries
      .filter((name) => name.startsWith(prefix) && !name.slice(prefix.length).includes('/'))
      .sort();
  }

  /**
   * Makes an installed manifest run (spec 02 §2.9): switches `current`, runs `bin/post-activate`,
   * writes and (re)starts the runit services (removing services the new version no longer has),
   * runs `bin/enable`, and only then writes `current_manifest.yaml` — unlike P2, which wrote it
   * first, so a crash mid-launch left a manifest on disk claiming a version that never started.
   *
   * @throws PodError `P2_PODS_LAUNCH_FAILED`, `P2_PODS_START_FAILED`, `P2_PODS_SERVICE_NAME_CLASH`
   */
  async launch(
    manifest: Manifest,
    ref: Omit<PodRef, 'podId'> & {
      /**
       * Leave running services of the old version running and report them in `pendingRestarts`:
       * for the preparer's own pod, whose restart ends the process doing the launch.
       */
      deferRestarts?: boolean;
    } = {},
  ): Promise<LaunchReport> {
    const layout = this.layout({
      podId: manifest.id,
      ...(ref.uniqueKey ? { uniqueKey: ref.uniqueKey } : {}),
    });
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
    let user: { uid: number; gid: number; name: string };
    // Each launchable's cgroup, made once per launch: services and lifecycle scripts join it.
    const procs = new Map<string, string[]>();
    try {
      await this.assertTrustedHome(manifest, layout);
      user = await this.runAsUser(manifest, layout);
      for (const launchableId of Object.keys(manifest.launchables))
        procs.set(launchableId, await this.launchableCgroup(manifest, layout, launchableId));
      for (const launchableId of Object.keys(manifest.launchables)) {
        const dirName = installDirName(launchableId, manifest.launchableVersion(launchableId));
        if (!existsSync(join(layout.installsDir(launchableId), dirName))) {
          throw new PodError(
            PodErrorCode.NOT_INSTALLED,
            `pod ${manifest.id}: launchable ${launchableId} is not installed (${dirName})`,
            {
              hint: 'install the manifest before launching it',
            },
          );
        }
        await activateInstall(layout.launchableRoot(launchableId), dirName);
        const scripts = await discoverScripts(join(layout.installsDir(launchableId), dirName));
        if (scripts.postActivate) {
          const result = await this.script(manifest, layout, launchableId, scripts.postActivate, {
            timeoutMs: 3_600_000,
            user,
            cgroupProcsFiles: procs.get(launchableId) ?? [],
          });
          report.scripts.push({ launchableId, script: 'bin/post-activate', result });
        }
      }
      specs = await this.serviceSpecs(manifest, layout, procs);
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
    for (const stale of await this.podServices(layout)) {
      if (wanted.has(stale)) continue;
      await this.options.runsvdir.remove(stale).catch((error: unknown) => {
        this.logger.warn(
          { pod: manifest.id, service: stale, err: describeError(error) },
          'could not remove a stale service',
        );
      });
      report.removedServices.push(stale);
    }

    const failures: string[] = [];
    for (const { launchableId, spec } of specs) {
      try {
        const installed = await this.options.runsvdir.install(spec);
        if (installed.via === 'update') {
          // An existing service gets its new run script by a restart (or once, for policy never).
          const timeoutMs = spec.restartTimeoutMs ?? 60_000;
          const noHalt = manifest.launchables[launchableId]?.noHaltOnUpdate ?? false;
          if (ref.deferRestarts && spec.restartPolicy !== 'never' && !noHalt)
            report.pendingRestarts.push(spec.name);
          else if (spec.restartPolicy === 'never') await once(installed.dir, { timeoutMs });
          else if (!noHalt) await restart(installed.dir, { timeoutMs, force: true });
          else await this.options.runsvdir.startService(spec.name, { timeoutMs });
        } else if (spec.restartPolicy === 'never') {
          await this.options.runsvdir.startService(spec.name);
        }
        report.services.push(spec.name);
      } catch (error) {
        failures.push(`${spec.name}: ${describeError(error)}`);
        this.logger.error(
          { pod: manifest.id, service: spec.name, err: describeError(error) },
          'service did not start',
        );
      }
    }

    lap('runit');
    if (!layout.uniqueKey) {
      for (const launchableId of Object.keys(manifest.launchables)) {
        const dirName = installDirName(launchableId, manifest.launchableVersion(launchableId));
        const scripts = await discoverScripts(
          join(layout.installsDir(launchableId), dirName),
        ).catch(() => ({}) as { enable?: string });
        if (!scripts.enable) continue;
        const result = await this.script(manifest, layout, launchableId, scripts.enable, {
          timeoutMs: 300_000,
          user,
          cgroupProcsFiles: procs.get(launchableId) ?? [],
        });
        report.scripts.push({ launchableId, script: 'bin/enable', result });
        if (result.exitCode !== 0) {
          this.logger.warn(
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
    this.runAsIndex?.set(layout.uniqueName, { podId: manifest.id, runAs: manifest.runAs });
    for (const launchableId of Object.keys(manifest.launchables)) {
      await pruneInstalls(layout.launchableRoot(launchableId), {
        maxBytes: this.options.maxLaunchableDiskUsage ?? 10 * 2 ** 30,
      }).catch((error: unknown) =>
        this.logger.warn(
          { pod: manifest.id, err: describeError(error) },
          'pruning installs failed',
        ),
      );
    }
    lap('commit');
    this.logger.info({ pod: manifest.id, services: report.services }, 'pod launched');
    return report;
  }

  /** Sends restart to services without waiting (see `deferRestarts`). */
  async restartServices(names: readonly string[]): Promise<void> {
    for (const name of names)
      await restart(join(this.options.runsvdir.root, name), { timeoutMs: 0 });
  }

  private async script(
    manifest: Manifest,
    layout: PodLayout,
    launchableId: string,
    path: string,
    run: { timeoutMs: number; user: { name: string; gid: number }; cgroupProcsFiles: string[] },
  ): Promise<ScriptResult> {
    const installDir = join(
      layout.installsDir(launchableId),
      installDirName(launchableId, manifest.launchableVersion(launchableId)),
    );
    const result = await runScript(path, {
      user: run.user.name,
      gid: run.user.gid,
      cgroupProcsFiles: scriptCgroupProcs(run.cgroupProcsFiles),
      envDirs: [layout.envDir, layout.launchableEnvDir(launchableId)],
      cwd: installDir,
      timeoutMs: run.timeoutMs,
      extraEnv: { ENTRY_POINT: path.slice(installDir.length + 1) },
    });
    this.logger.info(
      {
        pod: manifest.id,
        launchable: launchableId,
        script: path,
        exitCode: result.exitCode,
        timedOut: result.timedOut,
        ms: result.durationMs,
        output: result.output,
      },
      'launchable script ran',
    );
    return result;
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
    const layout = this.layout({
      podId: manifest.id,
      ...(options.uniqueKey ? { uniqueKey: options.uniqueKey } : {}),
    });
    const graceMs = Math.min(
      (manifest.terminationGracePeriodSeconds || 3600) * 1000,
      this.options.maxDisableMs ?? 3_600_000,
    );
    const specs = await this.serviceNamesByLaunchable(manifest, layout);
    if (!layout.uniqueKey) {
      for (const launchableId of Object.keys(manifest.launchables)) {
        const current = await readLink(layout.launchableRoot(launchableId), 'current').catch(
          () => undefined,
        );
        if (!current) continue;
        const scripts = await discoverScripts(
          join(layout.installsDir(launchableId), current),
        ).catch(() => ({}) as { disable?: string });
        if (!scripts.disable) continue;
        // A disable script that cannot run (e.g. its run_as is refused now) never keeps the
        // services from stopping.
        let result: ScriptResult | undefined;
        try {
          result = await this.script(manifest, layout, launchableId, scripts.disable, {
            timeoutMs: graceMs,
            user: await this.runAsUser(manifest, layout),
            // The running version's cgroup: joined as it is, not re-created (no limit writes).
            cgroupProcsFiles: this.existingCgroupProcs(layout, launchableId),
          });
        } catch (error) {
          this.logger.warn(
            { pod: manifest.id, launchable: launchableId, err: describeError(error) },
            'bin/disable could not run',
          );
        }
        if (result && result.exitCode !== 0)
          this.logger.warn(
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
        const dir = join(this.options.runsvdir.root, name);
        if (!existsSync(dir)) continue;
        try {
          await down(dir, { timeoutMs, force: true });
        } catch (error) {
          failures.push(`${name}: ${describeError(error)}`);
        }
      }
      const current = await readLink(layout.launchableRoot(launchableId), 'current').catch(
        () => undefined,
      );
      if (current) {
        await switchLink(layout.launchableRoot(launchableId), 'last', current).catch(
          (error: unknown) =>
            this.logger.warn(
              { pod: manifest.id, err: describeError(error) },
              'could not switch last',
            ),
        );
      }
    }
    if (failures.length > 0) {
      throw new PodError(
        PodErrorCode.HALT_FAILED,
        `pod ${manifest.id}: ${failures.length} service(s) did not stop: ${failures.join('; ')}`,
      );
    }
  }

  private async serviceNamesByLaunchable(
    manifest: Manifest,
    layout: PodLayout,
  ): Promise<Map<string, string[]>> {
    const all = await this.podServices(layout);
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

  /**
   * Removes a pod from this host (spec 02 §2.11): halts what runs, removes its services and cgroups,
   * deletes its home. Uninstalling a pod that is not installed is a no-op.
   *
   * @throws PodError `P2_PODS_UNINSTALL_FAILED`
   */
  async uninstall(ref: PodRef & { alreadyHalted?: boolean }): Promise<void> {
    const layout = this.layout(ref);
    const manifest = ref.alreadyHalted
      ? undefined
      : await this.currentManifest(layout).catch(() => undefined);
    if (manifest) {
      await this.halt(manifest, {
        force: true,
        ...(ref.uniqueKey ? { uniqueKey: ref.uniqueKey } : {}),
      }).catch((error: unknown) =>
        this.logger.warn(
          { pod: ref.podId, err: describeError(error) },
          'halt before uninstall failed',
        ),
      );
    }
    try {
      for (const name of await this.podServices(layout)) await this.options.runsvdir.remove(name);
      if (this.options.cgroups) {
        await openCgroup(this.options.cgroups, {
          name: cgroupName({ node: this.nodeName, pod: layout.uniqueName }),
        }).remove({ kill: true });
      }
      // data/ is the pod's: delete without following anything it may have linked.
      await removeTree(layout.home);
      this.runAsIndex?.delete(layout.uniqueName);
    } catch (error) {
      throw new PodError(
        PodErrorCode.UNINSTALL_FAILED,
        `uninstalling pod ${ref.podId}: ${describeError(error)}`,
        { cause: error },
      );
    }
    this.logger.info({ pod: ref.podId }, 'pod uninstalled');
  }

  /**
   * The manifest a pod last launched with (`current_manifest.yaml`), or undefined when there is
   * none. Root decides from it what to halt and as whom to run `bin/disable`, so it is read only
   * from a root-owned home, as a root-owned regular file nobody else can write (no link, FIFO or
   * device), at most 4 MiB; the error never quotes the file.
   * @throws PodError `P2_PODS_UNTRUSTED_PATH`; ManifestError when it does not parse
   */
  async currentManifest(layout: PodLayout): Promise<Manifest | undefined> {
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

  /** Pods found under the pod root (a home with a `current_manifest.yaml`), for rebuilding reality. */
  async installedPods(): Promise<InstalledPod[]> {
    const names = await readdir(this.podRoot).catch(() => [] as string[]);
    const pods: InstalledPod[] = [];
    for (const name of names.sort()) {
      if (name === 'hooks' || name.startsWith('.')) continue;
      let layout: PodLayout;
      try {
        layout = PodLayout.fromHomeName(this.podRoot, name);
      } catch {
        continue;
      }
      if (!existsSync(layout.currentManifestPath)) continue;
      try {
        const manifest = await this.currentManifest(layout);
        pods.push(manifest ? { layout, manifest } : { layout });
      } catch (error) {
        pods.push({ layout, error: describeError(error) });
      }
    }
    return pods;
  }

  /**
   * The manifest a pod runs now: its `current_manifest.yaml`, provided every one of its services is
   * supervised and running (or deliberately down, for restart policy `never`); else undefined.
   * With `requireServices`, a pod without any service does not count as running.
   */
  async runningManifest(
    ref: PodRef & { requireServices?: boolean },
  ): Promise<Manifest | undefined> {
    const current = await this.currentManifest(this.layout(ref)).catch(() => undefined);
    if (!current) return undefined;
    const services = await this.services(
      current,
      ref.uniqueKey ? { uniqueKey: ref.uniqueKey } : {},
    );
    if (ref.requireServices && services.length === 0) return undefined;
    const up = services.every(
      (s) =>
        s.status?.supervised === true && (s.status.state === 'run' || s.status.want === 'down'),
    );
    return up ? current : undefined;
  }

  /** Status of every service of a pod, read from runit's `supervise/`. */
  async services(manifest: Manifest, ref: Omit<PodRef, 'podId'> = {}): Promise<ServiceState[]> {
    const layout = this.layout({
      podId: manifest.id,
      ...(ref.uniqueKey ? { uniqueKey: ref.uniqueKey } : {}),
    });
    const states: ServiceState[] = [];
    for (const [launchableId, names] of await this.serviceNamesByLaunchable(manifest, layout)) {
      for (const name of names) {
        try {
          states.push({
            name,
            launchableId,
            status: await readStatus(join(this.options.runsvdir.root, name)),
          });
        } catch (error) {
          states.push({ name, launchableId, error: describeError(error) });
        }
      }
    }
    return states;
  }
}
