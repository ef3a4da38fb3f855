/**
 * One deploy, in P2's order of operations (spec 02 §1.9, §1.10), for every caller: the preparer's
 * workers, p2-bootstrap and `p2 launch`. {@link deploySteps} is the order, {@link deployPod} runs it
 * and `planDeploy` reports it without running it. What a caller legitimately does without (no
 * store yet, so no reality; no hooks; no halt of the previous version) is an option, never a copy
 * of the order.
 *
 * Hazards the order guards against:
 * - authorization (deployer policy and the host's run_as policy) comes before anything is written;
 *   a refusal never uninstalls or stops what runs;
 * - the previous version's health must not vouch for the new one (controllers count a replica as
 *   healthy when reality shows the new manifest and health says passing): when that version is
 *   halted its checks stop, and its record is withdrawn in the very transaction that writes the
 *   new reality (no reader ever sees reality name the new version beside the old record; one
 *   commit, not two). From the halt to that write the old record stands beside the reality that
 *   still names the old version — as in P2, whose checks ran on a timer; no controller counts it
 *   for the new version (intent already differs from reality there). A deploy that fails after
 *   the halt withdraws it on its own. Without a reality recorder the record is withdrawn at the
 *   halt. The new version is checked at once after its launch (the checker's start-up probe);
 * - reality is written only after the launch (and after the replay guard recorded it), so it only
 *   ever shows what really runs;
 * - the preparer's own pod defers its restart (it ends the process doing the deploy) until every
 *   record is written.
 */
import { basename } from 'node:path';
import { describeError } from '@p2/errors';
import { switchLink } from '@p2/hoist';
import type { HookEvent } from '@p2/hooks';
import type { Manifest } from '@p2/manifest';
import type { InstallOptions, InstallReport, LaunchReport, PodHost, PodLayout } from '@p2/pods';

/** Runs hooks for an event; rejects only when a required hook failed. */
export interface LifecycleHooks {
  /** Runs every hook for `event` on `pod`. */
  run(event: HookEvent, pod: { manifest: Manifest; layout: PodLayout }): Promise<void>;
}

/** Checks that a manifest may be deployed here (a deployer policy from @p2/auth); rejects when not. */
export type Authorize = (manifest: Manifest) => Promise<void>;

/**
 * Told that a manifest runs here — after its launch, and for what already runs when the preparer
 * (re)starts — so @p2/auth's replay guard records its serial only once it really ran.
 */
export type Launched = (manifest: Manifest) => Promise<void>;

/** Health checking of running pods (legacy pods only, as P2). */
export interface HealthTracker {
  /** Starts (or keeps) checking a pod and publishing its health record. */
  track(manifest: Manifest): void;
  /**
   * Stops checking a pod and removes its published health record — or, with `keepRecord`, leaves
   * the record for the reality write to withdraw (`RealityRecorder.write`'s `withdrawHealth`) and
   * never publishes it again. A later plain `untrack` removes such a left record too.
   */
  untrack(podId: string, options?: { keepRecord?: boolean }): Promise<void>;
}

/** Where reality is recorded: `reality/<node>/…` in the store (see `StoreReality`). */
export interface RealityRecorder {
  /**
   * Records that `manifest` runs here; with `withdrawHealth` (a legacy pod's update), deletes the
   * pod's health record on this node in the same transaction.
   */
  write(
    manifest: Manifest,
    uniqueKey: string,
    options?: { withdrawHealth?: boolean },
  ): Promise<void>;
  /**
   * Records it only when reality says otherwise (legacy pods), so a converged pod costs a read;
   * with `withdrawHealth`, as `write` does when reality named another manifest.
   */
  converge(
    manifest: Manifest,
    uniqueKey: string,
    options?: { withdrawHealth?: boolean },
  ): Promise<void>;
}

/** The host a deploy acts on, and the parts of the order a caller has (absent ones are skipped). */
export interface DeployAgent {
  host: PodHost;
  /** The deployer policy. The host's run_as policy is always checked with it. */
  authorize?: Authorize;
  /** See {@link Launched}; a rejection fails the deploy. */
  launched?: Launched;
  /** Lifecycle hooks; without them, no hook step runs. */
  hooks?: LifecycleHooks;
  /** Without it (no store yet, or none at all), reality is not written. */
  reality?: RealityRecorder;
  health?: HealthTracker;
  /** Told when stopping the previous version failed (the deploy goes on). */
  logger?: { warn(details: object, message: string): void };
}

/** The steps of a deploy, in the order {@link deploySteps} gives them. */
export type DeployStep =
  | 'authorize'
  | 'before_install'
  | 'install'
  | 'after_install'
  | 'halt_previous'
  | 'before_launch'
  | 'launch'
  | 'activate'
  | 'record_launch'
  | 'write_reality'
  | 'after_launch';

/** Choices a caller makes about one deploy. */
export interface DeployOptions {
  /** The pod instance (uuid pods); empty for a legacy pod. @default '' */
  uniqueKey?: string;
  /**
   * What to do when this exact manifest runs already: `skip` (the preparer: leave the app alone,
   * only converge reality and health) or `redeploy` (install and launch again, as `p2 launch` does).
   * @default 'skip'
   */
  whenRunning?: 'skip' | 'redeploy';
  /** Stop the previous version before the launch when it differs. @default true */
  haltPrevious?: boolean;
  /**
   * Start the pod's services. `false` installs and points each launchable's `current` link at the
   * new install, starting nothing (`p2 launch --no-start`). @default true
   */
  start?: boolean;
  /** Leave the old version's processes running; see `LaunchReport.pendingRestarts`. @default false */
  deferRestarts?: boolean;
  /** Download progress of the install. */
  onProgress?: InstallOptions['onProgress'];
  /** Each step's duration once it ends (also when it failed). */
  onStep?: (step: DeployStep, ms: number) => void;
  /** Called once the manifest is authorized and the deploy really starts. */
  onDeploying?: (previous: Manifest | undefined) => Promise<void>;
}

/** What {@link deploySteps} decides. */
export interface DeployDecision {
  /** `none`: this manifest runs already; `install`: nothing was there; `update`: another version was. */
  action: 'none' | 'install' | 'update';
  /** The steps that will run, in order (empty for `none`). */
  steps: DeployStep[];
}

/**
 * The deploy's order of operations and which steps run: the single place it is written down,
 * used by {@link deployPod} to deploy and by `planDeploy` to tell what a deploy would do.
 *
 * @param running - the manifest whose services run now, if any
 * @param previous - the version on disk that the deploy replaces, if any (the running one first)
 * @example
 * ```ts
 * deploySteps(agent, manifest, undefined, undefined).steps;
 * // ['authorize', 'install', 'launch']  (no hooks, no store, no replay guard)
 * ```
 */
export function deploySteps(
  agent: Omit<DeployAgent, 'host'>,
  manifest: Manifest,
  running: Manifest | undefined,
  previous: Manifest | undefined,
  options: Pick<DeployOptions, 'whenRunning' | 'haltPrevious' | 'start'> = {},
): DeployDecision {
  if (running?.sha() === manifest.sha() && (options.whenRunning ?? 'skip') === 'skip')
    return { action: 'none', steps: [] };
  const hooks = agent.hooks !== undefined;
  const steps: Array<DeployStep | false> = [
    'authorize',
    hooks && 'before_install',
    'install',
    hooks && 'after_install',
    (options.haltPrevious ?? true) && previous !== undefined && previous.sha() !== manifest.sha()
      ? 'halt_previous'
      : false,
    hooks && 'before_launch',
    (options.start ?? true) ? 'launch' : 'activate',
    agent.launched !== undefined && 'record_launch',
    agent.reality !== undefined && 'write_reality',
    hooks && 'after_launch',
  ];
  return {
    action: previous ? 'update' : 'install',
    steps: steps.filter((s): s is DeployStep => s !== false),
  };
}

/** What {@link deployPod} did. */
export type DeployResult =
  | {
      /** The manifest ran already: reality and health were converged, the app left alone. */
      outcome: 'unchanged';
    }
  | {
      /** Refused by the deployer or run_as policy; nothing was changed (`after_auth_fail` ran). */
      outcome: 'unauthorized';
      error: unknown;
    }
  | {
      outcome: 'deployed';
      action: 'install' | 'update';
      previous: Manifest | undefined;
      installed: InstallReport;
      /** Absent with `start: false`. */
      launched: LaunchReport | undefined;
      /** Milliseconds per step. */
      timings: Partial<Record<DeployStep, number>>;
      totalMs: number;
    };

/**
 * Deploys `manifest` on `agent.host` in the order {@link deploySteps} gives: authorize (deployer
 * and run_as policy) → `before_install` → install → `after_install` → halt the previous version
 * → `before_launch` → launch → record the launch (replay guard) → write reality → `after_launch`,
 * then health checking of the new version.
 *
 * A refusal is returned (`unauthorized`), not thrown; any later failure is thrown as the step's
 * own error (a `PodError`, a hook's error…), leaving the previous version's processes as they are
 * (and, when it failed before halting them, checking the previous version's health again).
 *
 * @example
 * ```ts
 * const result = await deployPod({ host, hooks, reality: new StoreReality(store, 'h1') }, manifest);
 * if (result.outcome === 'unauthorized') throw result.error;
 * ```
 */
export async function deployPod(
  agent: DeployAgent,
  manifest: Manifest,
  options: DeployOptions = {},
): Promise<DeployResult> {
  const { host } = agent;
  const uniqueKey = options.uniqueKey ?? '';
  const legacy = !uniqueKey;
  const layout = host.layout({ podId: manifest.id, uniqueKey });
  const running = await host.runningManifest({ podId: manifest.id, uniqueKey });
  const skip = running?.sha() === manifest.sha() && (options.whenRunning ?? 'skip') === 'skip';
  if (skip) {
    // What runs already matches: converge without disturbing the app.
    // Reality naming another version means a deploy ended before its reality write (a crash, a
    // store outage): a record that version left must not vouch for this one.
    await agent.reality?.converge(manifest, uniqueKey, {
      withdrawHealth: legacy && agent.health !== undefined,
    });
    if (legacy) agent.health?.track(manifest);
    await agent.launched?.(manifest); // a crash may have lost the record of its launch
    return { outcome: 'unchanged' };
  }
  const authorizeStarted = performance.now();
  try {
    await agent.authorize?.(manifest);
    // The host's run_as policy is part of what may run here: refused like a bad signature.
    await host.checkRunAs(manifest);
  } catch (error) {
    await agent.hooks?.run('after_auth_fail', { manifest, layout }).catch(() => undefined);
    return { outcome: 'unauthorized', error };
  }
  const authorizeMs = performance.now() - authorizeStarted;

  const previous = running ?? (await host.currentManifest(layout).catch(() => undefined));
  const decision = deploySteps(agent, manifest, running, previous, options);
  const timings: Partial<Record<DeployStep, number>> = { authorize: Math.round(authorizeMs) };
  options.onStep?.('authorize', authorizeMs);
  const timed = async <T>(name: DeployStep, fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - started;
      timings[name] = Math.round(ms);
      options.onStep?.(name, ms);
    }
  };
  const deployStarted = performance.now();
  await options.onDeploying?.(previous);
  // The previous version's health stays tracked (and shown) while it still answers: it is
  // untracked when it is halted, or before the new version launches when there is none.
  let untracked = false;
  // The previous version's record, left at its halt for the reality write to withdraw: until the
  // new version's first check it must be gone wherever reality names the new version.
  const foldWithdrawal =
    legacy && previous !== undefined && agent.reality !== undefined && agent.health !== undefined;
  let withdrawn = false;
  const untrack = async () => {
    if (!legacy || untracked) return;
    untracked = true;
    await agent.health?.untrack(manifest.id, { keepRecord: foldWithdrawal });
  };
  let installed: InstallReport | undefined;
  let launched: LaunchReport | undefined;
  let halting = false;
  try {
    await runSteps();
  } catch (error) {
    // Failed before the previous version was stopped: it still answers, so its health shows again
    // (reality still names it, so this never vouches for the new version).
    if (legacy && previous && !halting && untracked) agent.health?.track(previous);
    // Halted, and reality (still naming it) was not written: its left record goes now.
    else if (foldWithdrawal && untracked && !withdrawn)
      await agent.health?.untrack(manifest.id).catch(() => undefined);
    throw error;
  }
  async function runSteps(): Promise<void> {
    for (const step of decision.steps) {
      switch (step) {
        case 'authorize':
          break; // done above, before anything else
        case 'before_install':
        case 'after_install':
        case 'before_launch':
        case 'after_launch':
          await timed(step, async () => agent.hooks?.run(step, { manifest, layout }));
          break;
        case 'install':
          installed = await timed(step, () =>
            host.install(manifest, {
              uniqueKey,
              ...(options.onProgress ? { onProgress: options.onProgress } : {}),
            }),
          );
          break;
        case 'halt_previous':
          halting = true;
          await untrack();
          await timed(step, () =>
            host.halt(previous!, { uniqueKey }).catch((error: unknown) => {
              agent.logger?.warn(
                { pod: manifest.id, err: describeError(error) },
                'stopping the previous version failed; continuing',
              );
            }),
          );
          break;
        case 'launch':
          await untrack();
          launched = await timed(step, () =>
            host.launch(manifest, { uniqueKey, deferRestarts: options.deferRestarts ?? false }),
          );
          break;
        case 'activate':
          await timed(step, async () => {
            for (const l of installed?.launchables ?? [])
              await switchLink(
                layout.launchableRoot(l.launchableId),
                'current',
                basename(l.installDir),
              );
          });
          break;
        case 'record_launch':
          await timed(step, async () => agent.launched?.(manifest));
          break;
        case 'write_reality':
          await timed(step, async () =>
            agent.reality?.write(manifest, uniqueKey, { withdrawHealth: foldWithdrawal }),
          );
          withdrawn = foldWithdrawal;
          break;
      }
    }
  }
  if (legacy && launched) agent.health?.track(manifest);
  return {
    outcome: 'deployed',
    action: decision.action === 'update' ? 'update' : 'install',
    previous,
    installed: installed!,
    launched,
    timings,
    totalMs: Math.round(performance.now() - deployStarted),
  };
}
