/**
 * Starting, stopping and restarting a pod already installed on this host, without a store (P2's
 * p2-start, p2-stop and p2-restart): the pod's `current_manifest.yaml` is launched or halted on a
 * `PodHost` over the service root's runsvdir. A stopped pod stays down (its services are
 * deliberately down, which the preparer respects) until started or deployed again.
 */
import { type CgroupNaming, detectCgroups } from '@p2/cgroups';
import type { Manifest } from '@p2/manifest';
import { PodHost, type RunAsPolicy } from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import { HostAgentError, HostAgentErrorCode } from './errors.js';
import { checkedNaming } from './launch.js';

/** What {@link controlPod} does: launch, halt (forced, running `bin/disable`), or both. */
export type PodAction = 'start' | 'stop' | 'restart';

/** Where the pod lives. */
export interface ControlPodOptions {
  /** Node name for cgroups and the pod's environment. */
  nodeName: string;
  /** Where pods live. */
  podRoot: string;
  /** The runit service directory a runsvdir watches (the running one is adopted). */
  serviceRoot: string;
  /** A uuid pod's unique key. */
  uniqueKey?: string;
  /**
   * How pod cgroups are named when a pod is launched, as the preparer's `params.nested_cgroups`
   * and `cgroup_parent`. A halt removes the pod's cgroups of either naming. @default {} (flat)
   */
  cgroupNaming?: CgroupNaming;
}

/** What {@link controlPod} did (what `p2 start|stop|restart --json` prints). */
export interface PodControl {
  pod: string;
  action: PodAction;
  /** The manifest SHA that was acted on. */
  sha: string;
  /** The services running afterwards (none after `stop`). */
  services: string[];
}

/**
 * Starts, stops or restarts an installed pod from its `current_manifest.yaml` (root's, read as
 * `@p2/pods` reads it). `stop` halts with force, as P2's p2-stop; `restart` halts gracefully and
 * launches again, as p2-restart.
 *
 * @throws HostAgentError `P2_HOST_POD_NOT_INSTALLED` when the pod has no current manifest here; the
 *   pod host's own errors otherwise.
 * @example
 * ```ts
 * await controlPod('restart', 'hello', { nodeName: 'h1', podRoot: '/data/pods', serviceRoot: '/var/service' });
 * ```
 */
export async function controlPod(
  action: PodAction,
  podId: string,
  options: ControlPodOptions,
): Promise<PodControl> {
  const host = await localHost(options);
  const ref = { podId, uniqueKey: options.uniqueKey ?? '' };
  const manifest = await installedManifest(host, podId, ref.uniqueKey);
  if (action !== 'start')
    await host.halt(manifest, { uniqueKey: ref.uniqueKey, force: action === 'stop' });
  const services =
    action === 'stop' ? [] : (await host.launch(manifest, { uniqueKey: ref.uniqueKey })).services;
  return { pod: podId, action, sha: manifest.sha(), services };
}

/**
 * A `PodHost` on this host's service root (its running runsvdir adopted, unless `supervise` is
 * false) and cgroups. @internal
 */
export async function localHost(
  options: Omit<ControlPodOptions, 'uniqueKey'>,
  extra: { supervise?: boolean; runAs?: RunAsPolicy } = {},
): Promise<PodHost> {
  const runsvdir = new RunsvDir({ root: options.serviceRoot, slots: 0 });
  // adopts the runsvdir already watching the root
  if (extra.supervise ?? true) await runsvdir.start();
  return new PodHost({
    podRoot: options.podRoot,
    nodeName: options.nodeName,
    runsvdir,
    cgroups: await detectCgroups().catch(() => false as const),
    ...(extra.runAs ? { runAs: extra.runAs } : {}),
    cgroupNaming: checkedNaming(options.cgroupNaming),
  });
}

/**
 * A pod's current manifest on this host.
 * @throws HostAgentError `P2_HOST_POD_NOT_INSTALLED` when it has none @internal
 */
export async function installedManifest(
  host: PodHost,
  podId: string,
  uniqueKey: string,
): Promise<Manifest> {
  const manifest = await host.currentManifest(host.layout({ podId, uniqueKey }));
  if (!manifest)
    throw new HostAgentError(
      HostAgentErrorCode.POD_NOT_INSTALLED,
      `pod ${podId}${uniqueKey ? ` (${uniqueKey})` : ''} is not installed in ${host.podRoot} (it has no current manifest)`,
      {
        hint: 'check --pod-root, or install it first (p2 launch, or schedule it for the preparer)',
        details: { pod: podId, uniqueKey },
      },
    );
  return manifest;
}

/** Which pods {@link shutdownPods} halts. */
export interface ShutdownOptions extends Omit<ControlPodOptions, 'uniqueKey'> {
  /** Only these pod ids (or uuids). @default every pod installed here */
  pods?: readonly string[];
  /** Never these (they win over `pods`). @default none */
  exclude?: readonly string[];
  /** Only say which pods would be halted. @default false */
  dryRun?: boolean;
}

/**
 * Halts (forced, after `bin/disable`) every pod installed on this host, or the selected ones, all
 * at once — P2's p2-shutdown. Unlike P2, which read reality from the store and treated every entry
 * as a legacy pod, it takes the pods from disk (so it works when the store does not) and halts uuid
 * pods as themselves. Halted pods stay down until started or deployed again.
 *
 * @returns the pods halted (or that would be, with `dryRun`), as `pod` or `pod/uuid`
 * @example await shutdownPods({ nodeName: 'h1', podRoot: '/data/pods', serviceRoot: '/var/service', exclude: ['p2-preparer'] })
 */
export async function shutdownPods(
  options: ShutdownOptions,
): Promise<{ pods: string[]; dryRun: boolean }> {
  const host = await localHost(options);
  const wanted = (id: string, uuid: string) =>
    !(options.exclude ?? []).some((x) => x === id || x === uuid) &&
    (options.pods === undefined ||
      options.pods.length === 0 ||
      options.pods.some((x) => x === id || x === uuid));
  const selected = (await host.installedPods()).filter(
    (pod) => pod.manifest && wanted(pod.layout.podId, pod.layout.uniqueKey),
  );
  if (!options.dryRun)
    await Promise.all(
      selected.map((pod) =>
        host.halt(pod.manifest!, { uniqueKey: pod.layout.uniqueKey, force: true }),
      ),
    );
  return {
    pods: selected.map((p) =>
      p.layout.uniqueKey ? `${p.layout.podId}/${p.layout.uniqueKey}` : p.layout.podId,
    ),
    dryRun: options.dryRun ?? false,
  };
}
