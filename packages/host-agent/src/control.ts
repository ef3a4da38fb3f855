/**
 * Starting, stopping and restarting a pod already installed on this host, without a store (P2's
 * p2-start, p2-stop and p2-restart): the pod's `current_manifest.yaml` is launched or halted on a
 * `PodHost` over the service root's runsvdir. A stopped pod stays down (its services are
 * deliberately down, which the preparer respects) until started or deployed again.
 */
import { detectCgroups } from '@p2/cgroups';
import { PodHost } from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import { HostAgentError, HostAgentErrorCode } from './errors.js';

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
  const runsvdir = new RunsvDir({ root: options.serviceRoot, slots: 0 });
  await runsvdir.start(); // adopts the runsvdir already watching the root
  const host = new PodHost({
    podRoot: options.podRoot,
    nodeName: options.nodeName,
    runsvdir,
    cgroups: await detectCgroups().catch(() => false as const),
  });
  const ref = { podId, uniqueKey: options.uniqueKey ?? '' };
  const manifest = await host.currentManifest(host.layout(ref));
  if (!manifest)
    throw new HostAgentError(
      HostAgentErrorCode.POD_NOT_INSTALLED,
      `pod ${podId} is not installed in ${options.podRoot} (it has no current manifest)`,
      {
        hint: 'check --pod-root, or install it first (p2 launch, or schedule it for the preparer)',
      },
    );
  if (action !== 'start')
    await host.halt(manifest, { uniqueKey: ref.uniqueKey, force: action === 'stop' });
  const services =
    action === 'stop' ? [] : (await host.launch(manifest, { uniqueKey: ref.uniqueKey })).services;
  return { pod: podId, action, sha: manifest.sha(), services };
}
