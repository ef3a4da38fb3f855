/**
 * Test support (not part of the public API): an in-memory {@link PodHost} for fleet simulations
 * (`pnpm bench fleet`) and tests that need many hosts. Everything above the host — the preparer's
 * intent and reality watches, its workers, deploy's step order, reality and status writes, health
 * tracking and its session — runs for real against a real store; only what a pod does to the
 * machine (download, users, runit, cgroups) is replaced by a record in memory. A launched pod
 * "runs" at once with a fake pid, so health checks of a pod without a status port pass (as P2's do)
 * and one with a port is probed as usual.
 *
 * @internal
 */
import type { Manifest } from '@p2/manifest';
import {
  type InstalledPod,
  type InstallOptions,
  type InstallReport,
  type LaunchOptions,
  type LaunchReport,
  PodHost,
  type PodLayout,
  type PodRef,
  type ServiceState,
} from '@p2/pods';
import { RunsvDir } from '@p2/runit';

/** One pod as the simulated host holds it. */
interface SimPod {
  manifest: Manifest;
  running: boolean;
  pid: number;
  since: Date;
}

/** What the simulated host did, for assertions and the bench's counters. */
export interface SimHostCounters {
  installs: number;
  launches: number;
  halts: number;
  uninstalls: number;
}

let nextPid = 100_000;

/**
 * A host whose pods live in memory. Pass it as {@link PreparerOptions.host}.
 *
 * @example
 * ```ts
 * const host = new SimHost('p2t-sim-1');
 * const preparer = new Preparer({ node: 'p2t-sim-1', store, host, authorize: async () => {}, logger, metrics });
 * ```
 */
export class SimHost extends PodHost {
  private readonly pods = new Map<string, SimPod>();
  readonly counters: SimHostCounters = { installs: 0, launches: 0, halts: 0, uninstalls: 0 };

  /** @param node - the node name; the pod root is a path that is never created */
  constructor(node: string) {
    const podRoot = `/nonexistent/p2t-sim/${node}`;
    super({
      nodeName: node,
      podRoot,
      runsvdir: new RunsvDir({ root: `${podRoot}/service` }),
      cgroups: false,
      createUsers: false,
    });
  }

  private keyOf(ref: { podId: string; uniqueKey?: string }): string {
    return ref.uniqueKey ? `${ref.podId}/${ref.uniqueKey}` : ref.podId;
  }

  /** The manifest of a pod installed here, running or not. */
  manifestOf(ref: PodRef): Manifest | undefined {
    return this.pods.get(this.keyOf(ref))?.manifest;
  }

  override async checkRunAs(): Promise<undefined> {
    return undefined;
  }

  override async install(
    manifest: Manifest,
    options: Omit<InstallOptions, 'podId'> = {},
  ): Promise<InstallReport> {
    this.counters.installs++;
    const layout = this.layout({ podId: manifest.id, uniqueKey: options.uniqueKey ?? '' });
    const key = this.keyOf({ podId: manifest.id, uniqueKey: options.uniqueKey ?? '' });
    const was = this.pods.get(key);
    const same = was?.manifest.sha() === manifest.sha();
    // Installed but not launched: the old version keeps running until launch swaps it.
    if (!was) this.pods.set(key, { manifest, running: false, pid: 0, since: new Date() });
    return {
      podHome: layout.home,
      readOnly: false,
      configPath: `${layout.home}/config`,
      launchables: Object.keys(manifest.launchables).map((launchableId) => ({
        launchableId,
        installDir: `${layout.home}/${launchableId}`,
        alreadyInstalled: same,
      })),
    };
  }

  override async launch(manifest: Manifest, ref: LaunchOptions = {}): Promise<LaunchReport> {
    this.counters.launches++;
    const key = this.keyOf({ podId: manifest.id, uniqueKey: ref.uniqueKey ?? '' });
    this.pods.set(key, { manifest, running: true, pid: nextPid++, since: new Date() });
    return {
      services: this.serviceNames(manifest),
      pendingRestarts: [],
      removedServices: [],
      scripts: [],
      timings: {},
    };
  }

  override async halt(
    manifest: Manifest,
    options: Omit<PodRef, 'podId'> & { force?: boolean } = {},
  ): Promise<void> {
    this.counters.halts++;
    const pod = this.pods.get(this.keyOf({ podId: manifest.id, uniqueKey: options.uniqueKey }));
    if (pod) Object.assign(pod, { running: false, pid: 0, since: new Date() });
  }

  override async uninstall(ref: PodRef & { alreadyHalted?: boolean }): Promise<void> {
    this.counters.uninstalls++;
    this.pods.delete(this.keyOf(ref));
  }

  override async currentManifest(layout: PodLayout): Promise<Manifest | undefined> {
    return this.pods.get(this.keyOf(layout))?.manifest;
  }

  override async installedPods(): Promise<InstalledPod[]> {
    return [...this.pods.values()].map(({ manifest }) => ({
      layout: this.layout({ podId: manifest.id }),
      manifest,
    }));
  }

  override async runningManifest(
    ref: PodRef & { requireServices?: boolean },
  ): Promise<Manifest | undefined> {
    const pod = this.pods.get(this.keyOf(ref));
    return pod?.running ? pod.manifest : undefined;
  }

  override async services(
    manifest: Manifest,
    ref: Omit<PodRef, 'podId'> = {},
  ): Promise<ServiceState[]> {
    const pod = this.pods.get(this.keyOf({ podId: manifest.id, uniqueKey: ref.uniqueKey }));
    return this.serviceNames(manifest).map((name, i) => ({
      name,
      launchableId: Object.keys(manifest.launchables)[i] ?? '',
      status: {
        state: pod?.running ? 'run' : 'down',
        pid: pod?.running ? pod.pid : undefined,
        since: pod?.since ?? new Date(0),
        want: 'up',
        paused: false,
        termSent: false,
        supervised: true,
        normallyUp: true,
        lastExit: undefined,
        log: undefined,
      },
    }));
  }

  override async restartServices(): Promise<void> {}

  private serviceNames(manifest: Manifest): string[] {
    return Object.keys(manifest.launchables).map((l) => `${manifest.id}__${l}__launch`);
  }
}
