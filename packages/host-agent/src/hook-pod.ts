/**
 * The preparer's hook pod (spec 02 §6.2, §1.3 step 5.9), shared by `p2-preparer` at start and
 * `p2 hooks install`: the pod named by `hooks_manifest` installed at `<pod_root>/hooks/<id>` with
 * the host's own settings (`PodHost.hookPods()`: artifact verification, downloads, run_as policy),
 * made current, and exposed in the hooks directory as one executor per entry point — the entry
 * point's runit run script, so a hook drops privileges exactly as a service does. And
 * {@link runPodHooks}, P2's p2-run-hooks.
 *
 * What the hooks directory holds is what runs as root on every deploy, so the order matters: the new
 * version is installed beside the old one and made current, its executors are written, and only
 * then are stale executors, old installs and other hook pods removed. A failure before that leaves
 * the previous executors and install as they were, and running pods are never touched.
 */
import { basename } from 'node:path';
import { detectCgroups } from '@p2/cgroups';
import { describeError, P2Error } from '@p2/errors';
import { type ArtifactVerifier, DEFAULT_LOCAL_ARTIFACT_DIR, type FetchOptions } from '@p2/hoist';
import {
  type HookEvent,
  type HookRunSummary,
  installHookExecutors,
  type RunHooksOptions,
  runHooks,
} from '@p2/hooks';
import type { Manifest } from '@p2/manifest';
import {
  type HookPodHost,
  PodError,
  PodErrorCode,
  PodHost,
  type PodHostOptions,
  type RunAsPolicy,
} from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import { findUser } from '@p2/users';
import { HostAgentError, HostAgentErrorCode } from './errors.js';

/** Where {@link installHookPod} installs, and how it reports. */
export interface HookPodOptions {
  /** The node's pod host: its hook pods (`host.hookPods()`) get its verification and policies. */
  host: PodHost;
  /** P2's `hooks_directory`, where executors are written. */
  hooksDirectory: string;
  /** Told what was done, and about manifest settings a hook pod does not honour. */
  logger?: {
    info(details: object, message: string): void;
    warn(details: object, message: string): void;
  };
}

/** What {@link installHookPod} did (what `p2 hooks install --json` prints). */
export interface HookPodReport {
  /** The hook pod now installed; undefined after `no_hooks`. */
  pod?: string;
  sha?: string;
  home?: string;
  runAs?: string;
  /** A group that must read `HOOKED_POD_MANIFEST` (the hook pod's, unless it runs as root). */
  manifestGroup?: number;
  /** True when this version was installed now; false when it was already current here. */
  installed: boolean;
  /** Every executor of the hook pod now in the hooks directory. */
  executors: string[];
  /** Executors written now (new or changed). */
  written: string[];
  /** Executors removed: the hook pod's stale ones, and those of every other hook pod removed. */
  removedExecutors: string[];
  /** Old installs (and dropped launchables) of the hook pod removed. */
  prunedInstalls: string[];
  /** Hook pods removed from `<pod_root>/hooks` (an older id, or all of them for `no_hooks`). */
  removedPods: string[];
  /** Manifest settings a hook pod does not honour. */
  warnings: string[];
}

/**
 * Installs the hook pod of `hooks_manifest` (or, with `undefined` — P2's `no_hooks` — removes the
 * hook pods there are), as the preparer does before anything else at start:
 *
 * 1. the manifest's `run_as` is checked against the host's policy, where the hook pod is named
 *    `hooks/<id>` (so running as root needs `run_as_allow: {hooks/<id>: [root]}`);
 * 2. unless this manifest (same SHA) is already current in `<pod_root>/hooks/<id>`, it is
 *    installed — downloaded, verified by the host's artifact policy, extracted root-owned — and
 *    made current (`current` links, `current_manifest.yaml`; no service, no post-activate);
 * 3. each entry point's run script (the cgroup joined as root, `setpriv` to `run_as`, then
 *    `chpst -e` of the hook pod's env dirs) becomes `<hooks_directory>/<id>__<launchable>__<entry>`;
 *    byte-identical executors stay, changed ones are replaced by rename;
 * 4. then stale executors of the hook pod go, every install but `current`, and every other hook
 *    pod under `<pod_root>/hooks` with its executors: the preparer's config decides what hooks
 *    a host runs.
 *
 * Nothing of the node's pods is touched. Manual hooks in the hooks directory (files that are not a
 * hook pod's executors) are left alone.
 *
 * @throws HostAgentError `P2_PREPARER_HOOK_POD_FAILED` (cause: the pods, hoist or hooks error, its
 *   code in `details.causeCode`); the previous executors and install stay as they were.
 * @example
 * ```ts
 * const report = await installHookPod(config.hooksManifest, { host, hooksDirectory: '/usr/local/p2hooks.d' });
 * report.executors; // ['users__create__launch']
 * ```
 */
export async function installHookPod(
  manifest: Manifest | undefined,
  options: HookPodOptions,
): Promise<HookPodReport> {
  const hooks = options.host.hookPods();
  const report: HookPodReport = {
    installed: false,
    executors: [],
    written: [],
    removedExecutors: [],
    prunedInstalls: [],
    removedPods: [],
    warnings: [],
  };
  try {
    if (manifest) await installOne(hooks, manifest, options, report);
    for (const other of await hooks.installedPods()) {
      const id = other.layout.podId;
      if (id === manifest?.id) continue;
      const { removed } = await installHookExecutors(options.hooksDirectory, id, []);
      report.removedExecutors.push(...removed);
      await hooks.uninstall({ podId: id, alreadyHalted: true });
      report.removedPods.push(id);
    }
  } catch (error) {
    throw new HostAgentError(
      HostAgentErrorCode.HOOK_POD_FAILED,
      manifest
        ? `hook pod ${manifest.id}: ${describeError(error)}`
        : `removing hook pods (hooks_manifest: no_hooks): ${describeError(error)}`,
      {
        cause: error,
        details: {
          ...(manifest ? { pod: manifest.id } : {}),
          ...(error instanceof P2Error ? { causeCode: error.code } : {}),
        },
        hint:
          error instanceof P2Error && error.hint
            ? error.hint
            : 'the hooks in the hooks directory are as they were; fix hooks_manifest (or set it to no_hooks) and start again',
      },
    );
  }
  options.logger?.info(
    {
      hookPod: report.pod ?? null,
      sha: report.sha,
      installed: report.installed,
      executors: report.executors,
      written: report.written,
      removedExecutors: report.removedExecutors,
      prunedInstalls: report.prunedInstalls,
      removedPods: report.removedPods,
    },
    report.pod ? 'hook pod ready' : 'no hook pod (hooks_manifest: no_hooks)',
  );
  return report;
}

async function installOne(
  hooks: HookPodHost,
  manifest: Manifest,
  options: HookPodOptions,
  report: HookPodReport,
): Promise<void> {
  const layout = hooks.layout({ podId: manifest.id });
  if (manifest.readonly)
    report.warnings.push('readonly: ignored; a hook pod is never read-only (as in P2)');
  if (manifest.config.sqlite_path !== undefined)
    report.warnings.push(
      "config.sqlite_path: ignored; p2 audits every hook run in the preparer's log, not in SQLite",
    );
  for (const warning of report.warnings)
    options.logger?.warn({ hookPod: manifest.id }, `hooks manifest: ${warning}`);
  const account = await hooks.checkRunAs(manifest);

  // Same SHA already current: nothing to download. An unreadable current manifest is reinstalled.
  const current = await hooks.currentManifest(layout).catch(() => undefined);
  const install = async () => {
    await hooks.install(manifest);
    await hooks.activate(manifest);
    report.installed = true;
  };
  if (current?.sha() !== manifest.sha()) await install();
  let scripts: Awaited<ReturnType<HookPodHost['entryPointScripts']>>;
  try {
    scripts = await hooks.entryPointScripts(manifest);
  } catch (error) {
    // Current, but an install went missing: lay it out again.
    if (
      report.installed ||
      !(error instanceof PodError && error.code === PodErrorCode.NOT_INSTALLED)
    )
      throw error;
    await install();
    scripts = await hooks.entryPointScripts(manifest);
  }
  const executors = await installHookExecutors(
    options.hooksDirectory,
    manifest.id,
    scripts.map((s) => ({
      launchableId: s.launchableId,
      entryName: basename(s.entryPoint),
      script: s.script,
    })),
  );
  report.pod = manifest.id;
  report.sha = manifest.sha();
  report.home = layout.home;
  report.runAs = manifest.runAs;
  report.executors = executors.executors;
  report.written = executors.written;
  report.removedExecutors.push(...executors.removed);
  report.prunedInstalls = await hooks.pruneInstalls(manifest, { onlyCurrent: true });
  const user = account ?? (await findUser(manifest.runAs));
  if (user && user.uid !== 0) report.manifestGroup = user.gid;
}

/**
 * A pod host for work that supervises nothing (hook pods, reading a pod's current manifest): its
 * runsvdir is never started, and nothing is written to it.
 */
function unsupervisedHost(options: Omit<PodHostOptions, 'runsvdir'>): PodHost {
  return new PodHost({ ...options, runsvdir: new RunsvDir({ root: '/var/service', slots: 0 }) });
}

/** The host {@link installHookPodLocally} installs on, and the policy it applies. */
export interface LocalHookPodOptions {
  nodeName: string;
  podRoot: string;
  hooksDirectory: string;
  /** The host's `artifact_auth`; without it the artifact is installed unverified (P2's p2-install-hook). */
  artifactVerifier?: ArtifactVerifier;
  /** Download settings: TLS files, `local_artifact_dirs`. @default local locations from `DEFAULT_LOCAL_ARTIFACT_DIR` only */
  fetch?: Pick<FetchOptions, 'ca' | 'cert' | 'key' | 'localRoots' | 'timeouts'>;
  /** The host's run_as policy (the hook pod is `hooks/<id>` in it). @default { minUid: 1000, allow: {} } */
  runAs?: RunAsPolicy;
  /** Apply the hook pod's cgroup limits when the host has cgroups. @default true */
  cgroups?: boolean;
  logger?: HookPodOptions['logger'];
}

/**
 * {@link installHookPod} from the command line (`p2 hooks install`, P2's p2-install-hook), on a
 * pod host made from `options` instead of the preparer's.
 *
 * @throws HostAgentError `P2_PREPARER_HOOK_POD_FAILED` as {@link installHookPod}
 * @example
 * ```ts
 * await installHookPodLocally(manifest, { nodeName: 'h1', podRoot: '/data/pods',
 *   hooksDirectory: '/usr/local/p2hooks.d', artifactVerifier, runAs: config.runAs });
 * ```
 */
export async function installHookPodLocally(
  manifest: Manifest | undefined,
  options: LocalHookPodOptions,
): Promise<HookPodReport> {
  const cgroups =
    (options.cgroups ?? true) ? await detectCgroups().catch(() => false as const) : false;
  const host = unsupervisedHost({
    podRoot: options.podRoot,
    nodeName: options.nodeName,
    cgroups,
    fetch: options.fetch ?? { localRoots: [DEFAULT_LOCAL_ARTIFACT_DIR] },
    runAs: options.runAs ?? { minUid: 1000, allow: {} },
    ...(options.artifactVerifier ? { artifactVerifier: options.artifactVerifier } : {}),
  });
  return installHookPod(manifest, {
    host,
    hooksDirectory: options.hooksDirectory,
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

/**
 * The config file text of the preparer pod installed here (`<pod_root>/p2-preparer`'s current
 * manifest, read as root reads it: a root-owned file in a root-owned home), or undefined when
 * there is none: where a node-local tool finds this host's policies.
 *
 * @throws PodError `P2_PODS_UNTRUSTED_PATH`; ManifestError when it does not parse
 */
export async function installedPreparerConfigText(podRoot: string): Promise<string | undefined> {
  const host = unsupervisedHost({ podRoot, nodeName: 'local', cgroups: false });
  const manifest = await host.currentManifest(host.layout({ podId: 'p2-preparer' }));
  return manifest?.configFiles().config;
}

/** The group that must read `HOOKED_POD_MANIFEST`: the installed hook pod's, unless it runs as root. */
async function installedHookPodGroup(host: PodHost): Promise<number | undefined> {
  for (const pod of await host.hookPods().installedPods()) {
    if (!pod.manifest) continue;
    const user = await findUser(pod.manifest.runAs).catch(() => undefined);
    if (user && user.uid !== 0) return user.gid;
  }
  return undefined;
}

/** Which pod {@link runPodHooks} runs hooks for, and where. */
export interface RunPodHooksOptions {
  podId: string;
  /** A uuid pod's unique key. */
  uniqueKey?: string;
  /** The manifest given to hooks. @default the pod's `current_manifest.yaml` here */
  manifest?: Manifest;
  podRoot: string;
  hooksDirectory: string;
  nodeName: string;
  /** Time a hook may run. @default 120_000 (P2's) */
  timeoutMs?: number;
  /** Receives each hook's record as it finishes. */
  audit?: RunHooksOptions['audit'];
}

/**
 * Runs every hook of the hooks directory for one event of a pod installed here, as the preparer
 * would (P2's p2-run-hooks): the pod's current manifest (or `manifest`), P2's variables, no required
 * hooks — every hook runs, each result is reported. Reads no store.
 *
 * @throws HostAgentError `P2_HOST_POD_NOT_INSTALLED` when the pod has no current manifest here and
 *   none is given; `P2_HOOKS_IO` when the hooks directory cannot be read.
 * @example
 * ```ts
 * const summary = await runPodHooks('before_install', { podId: 'web', podRoot: '/data/pods',
 *   hooksDirectory: '/usr/local/p2hooks.d', nodeName: 'h1' });
 * summary.records.filter((r) => !r.success); // the hooks that failed
 * ```
 */
export async function runPodHooks(
  event: HookEvent,
  options: RunPodHooksOptions,
): Promise<HookRunSummary> {
  const host = unsupervisedHost({
    podRoot: options.podRoot,
    nodeName: options.nodeName,
    cgroups: false,
  });
  const layout = host.layout({ podId: options.podId, uniqueKey: options.uniqueKey ?? '' });
  const manifest = options.manifest ?? (await host.currentManifest(layout));
  if (!manifest)
    throw new HostAgentError(
      HostAgentErrorCode.POD_NOT_INSTALLED,
      `pod ${options.podId} is not installed in ${options.podRoot} (it has no current manifest)`,
      { hint: 'check --pod-root, or give the manifest hooks should see with --manifest' },
    );
  const manifestGroup = await installedHookPodGroup(host);
  return runHooks({
    event,
    hooksDirectory: options.hooksDirectory,
    node: options.nodeName,
    podRoot: options.podRoot,
    pod: {
      manifest,
      home: layout.home,
      id: layout.podId,
      ...(layout.uniqueKey ? { uniqueKey: layout.uniqueKey } : {}),
      readOnly: host.readOnly(manifest),
    },
    ...(manifestGroup !== undefined ? { manifestGroup } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.audit ? { audit: options.audit } : {}),
  });
}
