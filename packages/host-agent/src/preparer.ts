/**
 * The preparer's reconcile engine: watch `intent/<node>/`, hand each pod's latest desired state to
 * its own worker, and make the host match — in P2's order of operations (spec 02 §1.9, §1.10) with
 * P2's hazards fixed:
 *
 * - an unparseable or unauthorized intent entry is reported and never uninstalls what runs;
 * - a failed start is retried with backoff (reality is written only for what really runs);
 * - restarting the preparer never restarts apps: a pod whose on-disk manifest already matches
 *   intent and whose services are up is left alone;
 * - a dead store stops nothing: apps keep running and the watch retries with backoff.
 */
import { existsSync } from 'node:fs';
import { describeError, type P2Error } from '@p2/errors';
import { formatRfc3339Nano } from '@p2/go';
import {
  type PodEvent,
  PodEventStore,
  PodTree,
  type PreparerPodStatus,
  PreparerStatusStore,
  type ProcessExit,
  type ProcessReport,
  StatusStore,
} from '@p2/keyspace';
import { type Store, sleep } from '@p2/kv';
import { type Manifest, parseManifest } from '@p2/manifest';
import type { PodHost } from '@p2/pods';
import { readTrustedFile } from '@p2/secure-fs';
import type { Logger } from 'pino';
import {
  type Authorize,
  type DeployAgent,
  deployPod,
  type HealthTracker,
  type Launched,
  type LifecycleHooks,
} from './deploy.js';
import { HostAgentError, HostAgentErrorCode } from './errors.js';
import { EventRecorder } from './events.js';
import { type Desired, desiredFromIntent, workerKey } from './intent.js';
import {
  type MetricGateSettings,
  type PodGate,
  readPodGate,
  removeGateReport,
  runPodGate,
  unfinishedGate,
} from './metric-gate.js';
import type { PreparerMetrics } from './metrics.js';
import { Prestager } from './prestage.js';
import { StoreReality } from './reality.js';
import {
  type AutoRevertSettings,
  awaitHealthy,
  podLabelsWithin,
  RevertMemory,
  type RevertWait,
  RevertWaits,
  revertDeadlineMs,
} from './revert.js';
import { type StatusServer, startStatusServer } from './status-server.js';
import { DeployTraceRecorder, exportOtlp } from './trace.js';
import { WorkerPool } from './workers.js';

const RECHECK_MAX_MS = 60_000;

/** The preparer's per-pod state record (`status/preparer/<node>/<pod>`; one codec, in @p2/keyspace). */
export type PodState = PreparerPodStatus;

/** What a {@link Preparer} works with. */
export interface PreparerOptions {
  /** This host's node name: the preparer follows `intent/<node>/`. */
  node: string;
  /**
   * First wait before a delegated manifest refused for its record (unsigned, missing, not
   * selecting this node) is checked again; doubles to 60 s while the intent stays the same.
   * @default 5000
   */
  recheckDelayMs?: number;
  store: Store;
  host: PodHost;
  authorize: Authorize;
  /** See {@link Launched}; a rejection fails the deploy attempt, which is retried. */
  launched?: Launched;
  hooks?: LifecycleHooks;
  logger: Logger;
  metrics: PreparerMetrics;
  /** Ignore intent snapshots that lack pod `p2-preparer` (P2's corruption guard). @default true */
  requirePreparerInIntent?: boolean;
  /** Backoff of failing pods. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Health checking of running pods (legacy pods only, as P2). */
  health?: HealthTracker;
  /** How often running pods' processes (and their exits) are checked and reported. @default 5000 */
  processReportIntervalMs?: number;
  /**
   * How often the preparer writes its heartbeat (`status/nodes/<node>/preparer`, one put), ±10%
   * so hosts started together spread their writes. The first is written at start, before any pod.
   * A write that fails (store down) is not retried before the next beat.
   * @default 30_000
   */
  heartbeatMs?: number;
  /** The preparer's version, published in its heartbeat. */
  version?: string;
  /** Called after each pod state change (tests, status page). */
  onState?: (state: PodState) => void;
  /**
   * Where {@link Preparer.start} starts the status server (`/_status`, `/metrics`; spec 02 §1.4):
   * a TCP port, a unix socket, or both. Given with neither, no server starts (and that is logged).
   * @default no status server
   */
  status?: { port?: number; socketPath?: string };
  /**
   * P2's pod whitelist phase (`pod_whitelist_file`, spec 02 §1.5): while `file` exists and lists
   * pod ids (one per line), only those pods of intent are installed; the rest of intent waits
   * until the file is removed or emptied. The file must be root's and not writable by others.
   */
  podWhitelist?: {
    file: string /** How often the file is read again. @default 10_000 */;
    pollMs?: number;
  };
  /**
   * Host-local auto-revert: an updated pod with a status check that does not pass within
   * `afterMs` (or its `p2.io/revert-after` label) goes back to its previous version, and its
   * intent SHA is not tried again until intent changes. Checked locally: works with the store down.
   * @default off
   */
  autoRevert?: AutoRevertSettings;
  /**
   * Metric-gated rollouts: a pod placed by a rolling update that names a metric gate is scraped
   * after its deploy until the gate held for the soak time, and the verdict reported at
   * `status/gates/<node>/<pod>`. Without it, such pods are reported `failed` (nobody checks).
   * @default off
   */
  metricGates?: MetricGateSettings;
  /** Export each deploy's steps as OpenTelemetry spans to this OTLP/HTTP endpoint (`tracing.otlp_endpoint`). */
  tracing?: { otlpEndpoint: string };
  /**
   * A deploy's `deploying` status (with its event) is written only when the deploy still runs
   * after this long; a quicker deploy writes its outcome only, with its events and history, in
   * one transaction (issue 20: store writes per deploy). `/_status` and `onState` see `deploying`
   * at once either way.
   * @default 500
   */
  deployingStatusDelayMs?: number;
  /**
   * How long a running pod whose intent vanished keeps running before it is removed. New intent
   * for it within this time makes the removal an update in place (a rolling update writes the old
   * RC's removal and the new RC's intent separately): no fresh install, no gap. 0 removes at once,
   * as P2 did.
   * @default 1000
   */
  removalGraceMs?: number;
}

const PREPARER_POD = 'p2-preparer';

/** A pod's held events to commit with its state record (see `EventRecorder.commit`). */
type HeldEvents = { pod: string; deployed?: Manifest; keepHold?: boolean };

/**
 * The preparer's reconcile engine: one worker per pod, each deploying ({@link deployPod}) or
 * uninstalling what `intent/<node>/` asks, and publishing the pod's state.
 *
 * @example
 * ```ts
 * const preparer = new Preparer({ node: 'h1', store, host, authorize, logger, metrics });
 * await preparer.start();   // watches intent/h1/ until stop()
 * ```
 */
export class Preparer {
  private readonly pool: WorkerPool<Desired>;
  private readonly controller = new AbortController();
  private readonly states = new Map<string, PodState>();
  private readonly known = new Set<string>();
  /** The latest desired state handed to each pod's worker. */
  private readonly latest = new Map<string, Desired>();
  /** Pods this preparer runs, for process reporting. */
  private readonly running = new Map<string, { manifest: Manifest; uniqueKey: string }>();
  private processTimer: NodeJS.Timeout | undefined;
  /** Retries owed writes every second while there are any (the store came back: catch up fast). */
  private retryTimer: NodeJS.Timeout | undefined;
  private writingAgain = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly started = new Date().toISOString();
  /** Delegated manifests waiting for their record to change (see `recheckLater`). */
  private readonly rechecks = new Map<
    string,
    { timer: NodeJS.Timeout; delayMs: number; desired: Desired }
  >();
  private watchDone: Promise<void> = Promise.resolve();
  private realityWatchDone: Promise<void> = Promise.resolve();
  private prestageDone: Promise<void> = Promise.resolve();
  private readonly prestager: Prestager;
  private statusServer: StatusServer | undefined;
  private readonly node: string;
  private readonly log: Logger;
  private readonly reality: StoreReality;
  private readonly agent: DeployAgent;
  /** Per-pod events and history in the store (`events/`, `history/`); best-effort. */
  private readonly events: EventRecorder;
  /** Intent SHAs reverted per worker key: not deployed again until intent changes. */
  private readonly reverted: RevertMemory;
  /** Health waits under way per worker key: a restart during one resumes it. */
  private readonly waits: RevertWaits;
  /** Store writes that failed (store down), retried with each process report until they succeed. */
  private readonly unwritten = new Map<string, () => Promise<void>>();
  /** OTLP exports under way (awaited by stop, each bounded by its timeout). */
  private readonly exports = new Set<Promise<void>>();

  constructor(private readonly options: PreparerOptions) {
    this.node = options.node;
    this.log = options.logger;
    this.reality = new StoreReality(options.store, options.node);
    this.events = new EventRecorder(options.store, options.node, options.metrics, options.logger);
    this.reverted = new RevertMemory(options.autoRevert?.stateFile);
    this.waits = new RevertWaits(options.autoRevert?.stateFile);
    this.prestager = new Prestager({
      node: this.node,
      store: options.store,
      host: options.host,
      authorize: options.authorize,
      logger: this.log,
    });
    const hooks = options.hooks;
    this.agent = {
      host: options.host,
      authorize: options.authorize,
      ...(options.launched ? { launched: options.launched } : {}),
      ...(hooks ? { hooks: this.recordedHooks(hooks) } : {}),
      ...(options.health ? { health: options.health } : {}),
      reality: this.reality,
      logger: options.logger,
    };
    this.pool = new WorkerPool<Desired>((_key, desired, signal) => this.apply(desired, signal), {
      initialMs: options.backoff?.initialMs ?? 1000,
      maxMs: options.backoff?.maxMs ?? 60_000,
      onFailure: (key, _desired, error, retryInMs, attempt) => {
        this.log.warn(
          {
            pod: key,
            attempt,
            retryInMs,
            err: describeError(error),
            code: (error as P2Error).code,
          },
          'pod attempt failed; retrying',
        );
      },
    });
  }

  /**
   * Hooks whose failures are recorded as `hook` events of the pod (their runs and times are already
   * in the deploy's steps: `before_install`, `after_launch`…).
   */
  private recordedHooks(hooks: LifecycleHooks): LifecycleHooks {
    return {
      run: async (event, pod) => {
        const key = pod.layout.uniqueKey || pod.manifest.id;
        try {
          await hooks.run(event, pod);
        } catch (error) {
          this.events.record(key, {
            type: 'hook',
            message: `${event} hooks failed: ${describeError(error)}`,
            code: (error as P2Error).code,
          });
          throw error;
        }
      },
    };
  }

  /**
   * Records a pod's health transition (from the health checker: `from` is undefined at the first
   * result) as a `health` event. Best-effort, returns at once.
   */
  recordHealth(podId: string, from: string | undefined, to: string): void {
    this.events.record(podId, { type: 'health', ...(from ? { from } : {}), to });
  }

  /** Pod states by worker key, for `/_status`. */
  podStates(): PodState[] {
    return [...this.states.values()];
  }

  /** The status server {@link Preparer.start} started, if any. */
  get status(): StatusServer | undefined {
    return this.statusServer;
  }

  /**
   * Starts the status server (when asked to), runs the `preparer_init` hook for the preparer's own
   * pod when it is installed here (spec 02 §1.3), rebuilds the view from disk (pods installed
   * here) and starts watching intent.
   */
  async start(): Promise<void> {
    await this.startStatusServer();
    await this.reverted
      .load()
      .catch((error: unknown) =>
        this.log.error(
          { file: this.options.autoRevert?.stateFile, err: describeError(error) },
          'cannot read the auto-revert state file; reverted versions may be tried again',
        ),
      );
    await this.waits
      .load()
      .catch((error: unknown) =>
        this.log.error(
          { file: `${this.options.autoRevert?.stateFile}.waits`, err: describeError(error) },
          'cannot read the auto-revert waits; updates a restart interrupted are not reverted',
        ),
      );
    const home = this.options.host.layout({ podId: PREPARER_POD });
    const own = await this.options.host.currentManifest(home).catch(() => undefined);
    if (own) await this.options.hooks?.run('preparer_init', { manifest: own, layout: home });
    for (const pod of await this.options.host.installedPods()) {
      this.known.add(workerKey(pod.layout.podId, pod.layout.uniqueKey));
    }
    this.log.info({ node: this.node, installed: this.known.size }, 'preparer starting');
    // Issued before the intent watch, not awaited: a hung store must not hold the preparer back.
    void this.heartbeat();
    this.watchDone = this.whitelistPhase().then(() => this.watch());
    this.realityWatchDone = this.watchReality();
    // Pre-stage requests (issue 21): authorized as intent is, then downloaded beside what runs.
    this.prestageDone = this.prestager.run(this.controller.signal);
    this.retryTimer = setInterval(() => {
      if (this.unwritten.size > 0) void this.writeAgain();
    }, 1000);
    this.retryTimer.unref();
    this.processTimer = setInterval(() => {
      this.reportProcesses().catch((error: unknown) =>
        this.log.warn({ err: describeError(error) }, 'process report failed'),
      );
    }, this.options.processReportIntervalMs ?? 5000);
  }

  /**
   * Writes this node's heartbeat record and schedules the next (every `heartbeatMs`, jittered by
   * ±10%). A failed write is counted and logged; the next beat is the retry.
   */
  private async heartbeat(): Promise<void> {
    const every = this.options.heartbeatMs ?? 30_000;
    try {
      await new PreparerStatusStore(this.options.store).heartbeat({
        node: this.node,
        ...(this.options.version ? { version: this.options.version } : {}),
        started: this.started,
        seen: new Date().toISOString(),
        heartbeatMs: every,
      });
    } catch (error) {
      this.options.metrics.storeErrors.inc({ op: 'status' });
      this.log.warn({ err: describeError(error) }, 'could not publish the heartbeat');
    }
    if (this.controller.signal.aborted) return;
    this.heartbeatTimer = setTimeout(
      () => void this.heartbeat(),
      Math.round(every * (0.9 + Math.random() * 0.2)),
    );
    this.heartbeatTimer.unref();
  }

  /** Retries the store writes that failed (store down); each is dropped once it succeeds. */
  private async writeAgain(): Promise<void> {
    if (this.writingAgain) return; // one pass at a time (a pass can wait on a slow store)
    this.writingAgain = true;
    try {
      await this.writeOwed();
    } finally {
      this.writingAgain = false;
    }
  }

  private async writeOwed(): Promise<void> {
    for (const [key, write] of [...this.unwritten]) {
      if (this.unwritten.get(key) !== write) continue; // replaced or dropped meanwhile
      try {
        await write();
        if (this.unwritten.get(key) === write) this.unwritten.delete(key);
      } catch {
        return; // still down: the next tick tries again
      }
    }
  }

  /** Publishes each running pod's processes and last exits when they changed (P2 reported exits too). */
  async reportProcesses(): Promise<void> {
    for (const [key, { manifest, uniqueKey }] of this.running) {
      const before = this.states.get(key);
      if (before?.state !== 'running') continue;
      const services = await this.options.host.services(manifest, { uniqueKey });
      const processes: ProcessReport[] = services.map((s) => ({
        service: s.name,
        launchable: s.launchableId,
        state: s.status?.state ?? 'unknown',
        ...(s.status?.pid ? { pid: s.status.pid } : {}),
        ...(s.status?.lastExit
          ? {
              lastExit: {
                time: s.status.lastExit.time,
                exitCode: s.status.lastExit.exitCode,
                signal: s.status.lastExit.signal,
              },
            }
          : {}),
      }));
      if (JSON.stringify(processes) === JSON.stringify(before.processes ?? [])) continue;
      if (this.states.get(key) !== before) continue; // a worker changed the state meanwhile
      this.recordProcessChanges(uniqueKey || manifest.id, before, processes);
      // A uuid pod's exits also go where P2 put them: `process_status` of status/pods/<uuid>/preparer.
      // On a conflicting write the state stays as it was, so the next pass tries again.
      if (uniqueKey && (await this.recordExits(uniqueKey, services)) === 'conflict') continue;
      const { updated: _updated, ...rest } = before;
      await this.report({ ...rest, processes });
    }
  }

  /**
   * `exit` events for new last exits (on the first look after a deploy or start, only exits after
   * it: older ones belong to the previous version's halt), and `restart` events for a service that
   * runs again after one, or runs with a new pid.
   */
  private recordProcessChanges(
    pod: string,
    before: PodState,
    after: readonly ProcessReport[],
  ): void {
    for (const p of after) {
      const was = before.processes?.find((b) => b.service === p.service);
      const id = { service: p.service, launchable: p.launchable };
      const exit = p.lastExit;
      const newExit =
        exit !== undefined &&
        (before.processes === undefined
          ? Date.parse(exit.time) > Date.parse(before.updated)
          : JSON.stringify(exit) !== JSON.stringify(was?.lastExit));
      if (newExit)
        this.events.record(pod, {
          type: 'exit',
          ...id,
          exitCode: exit.exitCode,
          signal: exit.signal,
          message: `exited at ${exit.time}`,
        });
      if (p.state === 'run' && p.pid && (newExit || (was?.pid && was.pid !== p.pid)))
        this.events.record(pod, {
          type: 'restart',
          ...id,
          pid: p.pid,
          ...(was?.pid ? { from: String(was.pid) } : {}),
        });
    }
  }

  private async recordExits(
    uuid: string,
    services: Awaited<ReturnType<PodHost['services']>>,
  ): Promise<string> {
    const exits: ProcessExit[] = services.flatMap(({ launchableId, status }) => {
      const exit = status?.lastExit;
      if (!exit?.entryPoint) return [];
      return [
        {
          launchable_id: launchableId,
          entry_point: exit.entryPoint,
          // As runit hands them to ./finish: -1 when killed, and the signal (else 0) as the status.
          last_exit: {
            time: formatRfc3339Nano(new Date(exit.time)),
            exit_code: exit.exitCode ?? -1,
            exit_status: exit.waitStatus,
          },
        },
      ];
    });
    if (exits.length === 0) return 'unchanged';
    try {
      return await new StatusStore(this.options.store).recordProcessExits(uuid, exits);
    } catch (error) {
      this.options.metrics.storeErrors.inc({ op: 'status' });
      this.log.warn({ uuid, err: describeError(error) }, 'could not record process exits');
      return 'conflict';
    }
  }

  private async startStatusServer(): Promise<void> {
    const where = this.options.status;
    if (!where) return;
    if (!where.port && !where.socketPath) {
      this.log.warn('neither status_port nor status_socket is set: no status server');
      return;
    }
    const metrics = this.options.metrics;
    this.statusServer = await startStatusServer({
      ...(where.port ? { port: where.port } : {}),
      ...(where.socketPath ? { socketPath: where.socketPath } : {}),
      metrics: () => metrics.render(),
      metricsContentType: metrics.contentType,
      summary: () => ({ node: this.node, pods: this.podStates() }),
    });
    this.log.info({ url: this.statusServer.url }, 'status server listening');
  }

  /**
   * P2's pod whitelist phase (spec 02 §1.5), before the normal loop: while the whitelist file
   * lists pods, install those pods of intent only (each through its worker, with its retries),
   * then read the file again every `pollMs`. A missing or empty file ends the phase (P2 needed the
   * file deleted: an emptied file still held one empty line). A file others could have written is
   * refused, and nothing beyond the phase is done until it is fixed.
   */
  private async whitelistPhase(): Promise<void> {
    const file = this.options.podWhitelist?.file;
    if (!file) return;
    const pollMs = this.options.podWhitelist?.pollMs ?? 10_000;
    const signal = this.controller.signal;
    while (!signal.aborted) {
      let listed: Set<string>;
      try {
        const bytes = await readTrustedFile(file, { maxBytes: 1 << 20 });
        listed = new Set(
          (bytes?.toString('utf8') ?? '')
            .split('\n')
            .map((line) => line.trim())
            .filter((line) => line !== ''),
        );
      } catch (error) {
        this.log.error(
          { file, err: describeError(error) },
          'pod whitelist file refused; nothing beyond it is installed until it is fixed or removed',
        );
        await sleep(pollMs, signal);
        continue;
      }
      if (listed.size === 0) {
        this.log.info({ file }, 'pod whitelist phase over: no whitelist file, or it is empty');
        return;
      }
      try {
        const intent = await new PodTree(this.options.store, 'intent').listPods(this.node);
        for (const d of desiredFromIntent(this.node, intent)) {
          const podId = d.kind === 'run' ? d.manifest.id : d.podId;
          if (!listed.has(podId)) continue;
          const key = workerKey(podId, d.uniqueKey);
          this.known.add(key);
          this.offer(key, d);
        }
      } catch (error) {
        this.options.metrics.storeErrors.inc({ op: 'watch' });
        this.log.warn({ err: describeError(error) }, 'pod whitelist phase: cannot read intent');
      }
      const settled = await Promise.race([
        this.pool.drain().then(() => true),
        sleep(pollMs, signal).then(() => false),
      ]);
      if (settled) {
        this.log.info(
          { file, pods: [...listed] },
          'whitelisted pods are installed; the rest of intent waits for the whitelist file to be removed or emptied',
        );
        await sleep(pollMs, signal);
      }
    }
  }

  private async watch(): Promise<void> {
    try {
      for await (const intent of new PodTree(this.options.store, 'intent').watchNode(this.node, {
        signal: this.controller.signal,
        onError: (error) => {
          this.options.metrics.storeErrors.inc({ op: 'watch' });
          this.log.warn(
            { err: describeError(error) },
            'intent watch failed; apps keep running, retrying',
          );
        },
      })) {
        this.dispatchSnapshot(desiredFromIntent(this.node, intent), intent.index);
      }
    } catch (error) {
      if (!this.controller.signal.aborted)
        this.log.error({ err: describeError(error) }, 'intent watch ended');
    }
  }

  /** Hands a full intent snapshot to the workers (exposed for tests). */
  dispatchSnapshot(desired: Desired[], index = 0): void {
    const ids = new Set(desired.map((d) => (d.kind === 'run' ? d.manifest.id : d.podId)));
    if ((this.options.requirePreparerInIntent ?? true) && !ids.has(PREPARER_POD)) {
      this.options.metrics.storeErrors.inc({ op: 'corrupt-intent' });
      this.log.error(
        { index, pods: desired.length, code: HostAgentErrorCode.INTENT_CORRUPT },
        `intent for ${this.node} does not contain ${PREPARER_POD}; ignoring it as possibly corrupt (nothing is changed)`,
      );
      return;
    }
    const seen = new Set<string>();
    for (const d of desired) {
      const podId = d.kind === 'run' ? d.manifest.id : d.podId;
      const key = workerKey(podId, d.uniqueKey);
      seen.add(key);
      this.known.add(key);
      this.offer(key, d);
    }
    for (const key of this.known) {
      if (seen.has(key)) continue;
      const [podId = key, uniqueKey = ''] = key.split('/');
      this.offer(key, { kind: 'absent', podId, uniqueKey });
    }
    this.updatePodGauge();
  }

  private offer(key: string, desired: Desired): void {
    this.latest.set(key, desired);
    this.pool.dispatch(key, desired);
  }

  /**
   * P2's preparer compared intent with reality on every pass, so deleting a pod's reality
   * (p2-wipe-reality) made it deploy the pod again. This one decides from what runs on disk, so it
   * watches `reality/<node>/` instead: a pod it runs whose entry vanished goes to its worker again
   * with its latest intent, which checks the pod on disk — deploying it when it does not run as
   * intended — and records its reality anew.
   */
  private async watchReality(): Promise<void> {
    try {
      for await (const { ids } of new PodTree(this.options.store, 'reality').watchNodeIds(
        this.node,
        {
          signal: this.controller.signal,
          onError: (error) => {
            this.options.metrics.storeErrors.inc({ op: 'watch' });
            this.log.warn({ err: describeError(error) }, 'reality watch failed; retrying');
          },
        },
      )) {
        const present = new Set(ids);
        for (const [key, { manifest, uniqueKey }] of this.running) {
          if (present.has(uniqueKey || manifest.id)) continue;
          const desired = this.latest.get(key);
          if (desired?.kind !== 'run' || this.states.get(key)?.state !== 'running') continue;
          this.log.info({ pod: key }, 'the reality of a running pod vanished; checking it again');
          this.pool.dispatch(key, desired);
        }
      }
    } catch (error) {
      if (!this.controller.signal.aborted)
        this.log.error({ err: describeError(error) }, 'reality watch ended');
    }
  }

  private updatePodGauge(): void {
    const counts = new Map<string, number>();
    for (const s of this.states.values()) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
    this.options.metrics.setPodsByState(counts);
  }

  /** Records a pod's state here (`/_status`, `onState`) and publishes it to the store. */
  private async report(state: Omit<PodState, 'updated'>, events?: HeldEvents): Promise<void> {
    await this.publish(this.setState(state), events);
  }

  private setState(state: Omit<PodState, 'updated'>): PodState {
    const full: PodState = { ...state, updated: new Date().toISOString() };
    this.states.set(workerKey(state.pod, state.uniqueKey), full);
    this.updatePodGauge();
    this.options.onState?.(full);
    return full;
  }

  /**
   * Writes a pod's state record; with `events`, in one transaction with the pod's held events
   * (and its history entry), falling back to the record alone when those kept conflicting.
   */
  private async publish(full: PodState, events?: HeldEvents): Promise<void> {
    const key = workerKey(full.pod, full.uniqueKey);
    const statuses = new PreparerStatusStore(this.options.store);
    const write = () => statuses.publish(this.node, full);
    try {
      const op = statuses.publishOp(this.node, full);
      if (!events || !(await this.events.commit(events.pod, [op], events))) await write();
      this.unwritten.delete(`status:${key}`);
    } catch (error) {
      this.options.metrics.storeErrors.inc({ op: 'status' });
      this.log.warn({ pod: key, err: describeError(error) }, 'could not publish pod status');
      this.unwritten.set(`status:${key}`, write);
    }
  }

  private async apply(desired: Desired, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    switch (desired.kind) {
      case 'invalid':
        return this.refuseInvalid(desired);
      case 'absent': {
        // A removal followed at once by new intent (a rolling update moving this node from the old
        // RC to the new one writes the two separately) is an update in place: the old version keeps
        // serving until the new one is installed, and nothing is downloaded twice.
        const key = workerKey(desired.podId, desired.uniqueKey);
        const graceMs = this.options.removalGraceMs ?? 1000;
        if (graceMs > 0 && this.running.has(key)) {
          await sleep(graceMs, signal).catch(() => undefined);
          if (this.latest.get(key) !== desired || signal.aborted) return;
        }
        return this.remove(desired.podId, desired.uniqueKey);
      }
      case 'run':
        return this.deploy(desired.manifest, desired.uniqueKey, signal);
    }
  }

  private async refuseInvalid(desired: Extract<Desired, { kind: 'invalid' }>): Promise<void> {
    this.options.metrics.invalidIntent.inc();
    this.log.error(
      { pod: desired.podId, key: desired.key, err: desired.error },
      'intent entry cannot be read; the running version stays',
    );
    this.events.record(desired.uniqueKey || desired.podId, {
      type: 'invalid',
      message: desired.error,
      code: 'P2_MANIFEST_INVALID',
    });
    await this.report({
      pod: desired.podId,
      uniqueKey: desired.uniqueKey,
      state: 'invalid',
      error: desired.error,
      code: 'P2_MANIFEST_INVALID',
    });
  }

  private async deploy(manifest: Manifest, uniqueKey: string, signal: AbortSignal): Promise<void> {
    const key = workerKey(manifest.id, uniqueKey);
    // A reality write or delete still owed from before (the store was down) is this deploy's now.
    this.unwritten.delete(`reality:${key}`);
    const pod = { pod: manifest.id, uniqueKey };
    const eventKey = uniqueKey || manifest.id;
    const sha = manifest.sha();
    const bad = this.reverted.get(key);
    if (bad?.sha === sha) {
      // Reverted: not tried again until intent changes.
      if (this.states.get(key)?.state !== 'reverted')
        await this.report({
          ...pod,
          state: 'reverted',
          sha,
          revertedTo: bad.to,
          error: bad.reason,
          code: HostAgentErrorCode.REVERTED,
        });
      return;
    }
    if (bad) await this.forgetRevert(key);
    // A wait for another version: intent moved on while it ran (or before a restart).
    const wait = this.waits.get(key);
    if (wait && wait.sha !== sha) await this.noteWait(key, undefined);
    const timings: Record<string, number> = {};
    const trace = new DeployTraceRecorder();
    let deploying = false;
    let deployingTimer: NodeJS.Timeout | undefined;
    let deployingWrite: Promise<void> = Promise.resolve();
    /** Ends the `deploying` phase: its status write, if one started, lands before the outcome's. */
    const settled = async () => {
      clearTimeout(deployingTimer);
      await deployingWrite;
    };
    let revertAfter: Promise<number> = Promise.resolve(0);
    let gate: Promise<PodGate | undefined> = Promise.resolve(undefined);
    // The preparer's own pod: restarting its service ends this process, so the restart is the
    // very last thing done, after reality is written (P2 relied on restart timeout 0 for this).
    const self = manifest.id === PREPARER_POD && !uniqueKey;
    try {
      const result = await deployPod(this.agent, manifest, {
        uniqueKey,
        deferRestarts: self,
        onStep: (step, ms) => {
          timings[step] = Math.round(ms);
          trace.step(step, ms);
          this.options.metrics.stepSeconds.observe({ step }, ms / 1000);
        },
        onDeploying: async () => {
          deploying = true;
          // Read now, while the store that just gave the intent answers (the wait may outlive it).
          const labels = podLabelsWithin(this.options.store, this.node, manifest.id);
          revertAfter = this.revertDeadline(manifest, labels);
          if (!self && !uniqueKey) gate = labels.then((l) => readPodGate(this.options.store, l));
          // Held, and written with the outcome (or with the `deploying` status of a slow deploy).
          this.events.hold(eventKey);
          this.events.record(eventKey, { type: 'deploying', sha });
          const state = this.setState({ ...pod, state: 'deploying', sha });
          deployingTimer = setTimeout(() => {
            deployingWrite = this.publish(state, { pod: eventKey, keepHold: true });
          }, this.options.deployingStatusDelayMs ?? 500);
          deployingTimer.unref();
        },
      });
      switch (result.outcome) {
        case 'unchanged': {
          const firstPass = this.states.get(key) === undefined;
          if (this.states.get(key)?.state !== 'running')
            await this.report({ ...pod, state: 'running', sha: manifest.sha() });
          this.running.set(key, { manifest, uniqueKey });
          // A health wait the previous run of this preparer left unfinished (a restart mid-update).
          if (
            firstPass &&
            !self &&
            (await this.resumeWait(manifest, uniqueKey, signal)) === 'reverted'
          )
            return;
          // A soak the previous run of this preparer left unfinished (a restart mid-roll).
          if (firstPass && !self && !uniqueKey)
            await this.checkGate(
              manifest,
              await unfinishedGate(this.options.store, this.node, manifest),
              signal,
            );
          return;
        }
        case 'unauthorized': {
          const { error } = result;
          this.options.metrics.authFailures.inc();
          this.log.error(
            { pod: manifest.id, err: describeError(error), code: (error as P2Error).code },
            'manifest not authorized; the running version stays',
          );
          this.events.record(eventKey, {
            type: 'unauthorized',
            sha,
            message: describeError(error),
            code: (error as P2Error).code,
          });
          await this.report({
            ...pod,
            state: 'unauthorized',
            sha: manifest.sha(),
            error: describeError(error),
            code: (error as P2Error).code,
          });
          // No retry until intent changes (P2 behaved so) — except a delegated manifest refused for
          // what its record says (`details.record`): the record can change without the intent
          // changing (a deployer signs the RC after creating it, labels are fixed, a read failed).
          if ((error as P2Error).details?.record !== undefined)
            this.recheckLater(manifest, uniqueKey);
          return;
        }
        case 'deployed': {
          this.options.metrics.deploys.inc({ result: 'success' });
          this.log.info(
            {
              pod: manifest.id,
              uniqueKey: uniqueKey || undefined,
              sha: manifest.sha(),
              previousSha: result.previous?.sha(),
              services: result.launched?.services,
              launchTimings: result.launched?.timings,
              downloaded: result.installed.launchables
                .filter((l) => !l.alreadyInstalled)
                .map((l) => l.launchableId),
              timings,
              totalMs: result.totalMs,
            },
            'pod deployed',
          );
          trace.detail(result.installed, result.launched);
          this.events.record(eventKey, {
            type: 'deployed',
            sha,
            deployId: sha,
            spans: [...trace.spans],
            steps: { ...timings },
            totalMs: Math.round(result.totalMs),
            ...(result.previous ? { message: `from ${result.previous.sha()}` } : {}),
          });
          // Running from now (exits after this are the new version's), published after the
          // `deploying` write if a slow deploy started one.
          const running = this.setState({ ...pod, state: 'running', sha: manifest.sha() });
          await settled();
          await this.publish(running, { pod: eventKey, deployed: manifest });
          this.running.set(key, { manifest, uniqueKey });
          if (!uniqueKey) await this.prestager.deployed(manifest);
          let outcome = 'deployed';
          if (!self && result.previous && result.previous.sha() !== sha && result.launched)
            outcome = await this.revertIfUnhealthy(
              manifest,
              result.previous,
              uniqueKey,
              await revertAfter,
              signal,
              trace,
            );
          if (outcome !== 'reverted') await this.checkGate(manifest, await gate, signal);
          this.exportTrace(manifest, eventKey, outcome, trace);
          const pending = result.launched?.pendingRestarts ?? [];
          if (pending.length > 0) {
            this.log.info(
              { services: pending },
              'restarting the preparer itself on its new version',
            );
            await this.options.host.restartServices(pending);
          }
        }
      }
    } catch (error) {
      if (!deploying) throw error;
      await settled();
      this.options.metrics.deploys.inc({ result: 'failure' });
      this.log.error(
        {
          pod: manifest.id,
          sha: manifest.sha(),
          err: describeError(error),
          code: (error as P2Error).code,
          timings,
        },
        'pod deploy failed',
      );
      const failedStep = trace.spans.at(-1);
      if (failedStep) failedStep.failed = true;
      this.events.record(eventKey, {
        type: 'deploy-failed',
        sha,
        deployId: sha,
        spans: [...trace.spans],
        steps: { ...timings },
        message: describeError(error),
        code: (error as P2Error).code,
      });
      // The events held so far are written with the failure (flushed, not lost).
      await this.report(
        {
          ...pod,
          state: 'failed',
          sha: manifest.sha(),
          error: describeError(error),
          code: (error as P2Error).code,
        },
        { pod: eventKey },
      );
      this.exportTrace(manifest, eventKey, 'failed', trace);
      throw error;
    }
  }

  /** Sends a deploy's spans to the OTLP endpoint, in the background (never in the deploy's way). */
  private exportTrace(
    manifest: Manifest,
    pod: string,
    outcome: string,
    trace: DeployTraceRecorder,
  ): void {
    const endpoint = this.options.tracing?.otlpEndpoint;
    if (!endpoint) return;
    const deploy = { deployId: manifest.sha(), pod, node: this.node, outcome, spans: trace.spans };
    const done = exportOtlp({ endpoint, node: this.node, logger: this.log }, deploy, trace.started);
    this.exports.add(done);
    void done.finally(() => this.exports.delete(done));
  }

  /** The auto-revert deadline of a pod (0: none): it needs a status check, and the feature on. */
  private async revertDeadline(
    manifest: Manifest,
    labels: Promise<Record<string, string> | undefined>,
  ): Promise<number> {
    const settings = this.options.autoRevert;
    if (!settings || manifest.statusCheck() === undefined || manifest.id === PREPARER_POD) return 0;
    return revertDeadlineMs(await labels, settings.afterMs);
  }

  /** Whether intent still names this SHA for the worker `key` (and the preparer runs). */
  private wants(key: string, sha: string, signal: AbortSignal): boolean {
    // Every intent snapshot brings new objects: what counts is whether intent still names this SHA.
    const latest = this.latest.get(key);
    return !signal.aborted && latest?.kind === 'run' && latest.manifest.sha() === sha;
  }

  /** Holds a deployed legacy pod to its rolling update's metric gate, if it has one. */
  private async checkGate(
    manifest: Manifest,
    gate: PodGate | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    if (!gate) return;
    const key = workerKey(manifest.id, '');
    const settings = this.options.metricGates;
    const pod = settings
      ? gate
      : { roll: gate.roll, invalid: 'this preparer does not check metric gates' };
    await runPodGate(
      {
        store: this.options.store,
        node: this.node,
        settings: settings ?? { checkHost: this.node },
        stillWanted: () => this.wants(key, manifest.sha(), signal),
        retryLater: (k, write) => this.unwritten.set(k, write),
        logger: this.log,
      },
      manifest,
      pod,
    );
  }

  /** Writes one entry of an auto-revert state file; one that cannot be written is logged. */
  private async keep<T>(
    memory: { set(key: string, value: T | undefined): Promise<void> },
    key: string,
    value: T | undefined,
    risk: string,
  ): Promise<void> {
    await memory
      .set(key, value)
      .catch((error: unknown) =>
        this.log.error(
          { pod: key, err: describeError(error) },
          `cannot write the auto-revert state file; ${risk}`,
        ),
      );
  }

  /** Records or drops a health wait. */
  private noteWait(key: string, wait: RevertWait | undefined): Promise<void> {
    return this.keep(this.waits, key, wait, 'a restart may not finish this wait');
  }

  /**
   * Finishes a health wait a restart interrupted: the new version still runs, so it gets what was
   * left of its deadline (three check intervals at least), and is reverted if it does not pass.
   */
  private async resumeWait(
    manifest: Manifest,
    uniqueKey: string,
    signal: AbortSignal,
  ): Promise<string> {
    const key = workerKey(manifest.id, uniqueKey);
    const wait = this.waits.get(key);
    if (wait?.sha !== manifest.sha()) return 'deployed';
    let previous: Manifest | undefined;
    try {
      previous = parseManifest(Buffer.from(wait.previous, 'base64'));
    } catch {
      previous = undefined;
    }
    const settings = this.options.autoRevert;
    if (!previous || !settings || settings.afterMs <= 0) {
      await this.noteWait(key, undefined);
      return 'deployed';
    }
    // Three checks at least: one failed check right after a long outage is not a verdict.
    const remainingMs = Math.max(3 * (settings.intervalMs ?? 1000), wait.deadline - Date.now());
    this.log.info(
      { pod: manifest.id, sha: wait.sha, remainingMs },
      'resuming the health wait a restart interrupted',
    );
    return this.revertIfUnhealthy(
      manifest,
      previous,
      uniqueKey,
      remainingMs,
      signal,
      new DeployTraceRecorder(),
    );
  }

  /** Forgets a reverted SHA (intent changed). */
  private forgetRevert(key: string): Promise<void> {
    return this.keep(this.reverted, key, undefined, 'the refused SHA may be refused again');
  }

  /**
   * Auto-revert: when the pod has a status check and a deadline (config or pod label), waits for
   * the new version to pass; if it does not in time, deploys `previous` again from its install on
   * disk (no authorization, no reality, no replay guard: it ran here before, and none of those may
   * need the store), records the revert and remembers the bad SHA. Abandoned when intent moves on
   * or the preparer stops.
   */
  private async revertIfUnhealthy(
    manifest: Manifest,
    previous: Manifest,
    uniqueKey: string,
    deadlineMs: number,
    signal: AbortSignal,
    trace: DeployTraceRecorder,
  ): Promise<string> {
    const settings = this.options.autoRevert;
    if (!settings || deadlineMs <= 0) return 'deployed';
    const key = workerKey(manifest.id, uniqueKey);
    const eventKey = uniqueKey || manifest.id;
    const waitStarted = Date.now();
    const sha = manifest.sha();
    // Kept until decided: a restart resumes it; a new intent's deploy drops it.
    await this.noteWait(key, {
      sha,
      previous: Buffer.from(previous.raw).toString('base64'),
      deadline: waitStarted + deadlineMs,
    });
    const verdict = await awaitHealthy(manifest, settings, deadlineMs, () =>
      this.wants(key, sha, signal),
    );
    if (verdict.outcome === 'abandoned') return 'deployed';
    trace.since('healthy', waitStarted);
    if (verdict.outcome === 'healthy') {
      await this.noteWait(key, undefined);
      this.events.record(eventKey, {
        type: 'health',
        to: 'passing',
        sha,
        deployId: sha,
        spans: trace.spans.slice(-1),
      });
      return 'healthy';
    }
    const healthy = trace.spans.at(-1);
    if (healthy) healthy.failed = true;
    const revertStarted = Date.now();
    this.log.warn(
      { pod: manifest.id, sha, to: previous.sha(), reason: verdict.reason },
      'new version not healthy in time; reverting to the previous one',
    );
    const { authorize: _a, launched: _l, reality: _r, ...local } = this.agent;
    await deployPod(local, previous, { uniqueKey });
    trace.since('revert', revertStarted);
    this.running.set(key, { manifest: previous, uniqueKey });
    const entry = {
      sha,
      to: previous.sha(),
      reason: verdict.reason,
      time: new Date().toISOString(),
    };
    await this.keep(this.reverted, key, entry, 'a restart may try the bad version again');
    await this.noteWait(key, undefined);
    this.options.metrics.deploys.inc({ result: 'reverted' });
    // Unlike other events (best-effort), this one is kept until the store takes it.
    const event: PodEvent = {
      time: entry.time,
      type: 'reverted',
      sha,
      from: sha,
      to: previous.sha(),
      message: verdict.reason,
      code: HostAgentErrorCode.REVERTED,
      deployId: sha,
      spans: trace.spans.slice(-2),
    };
    const writeEvent = async () => {
      if (!(await new PodEventStore(this.options.store).append(this.node, eventKey, [event])))
        throw new Error('the events record kept changing');
    };
    await writeEvent().catch(() => this.unwritten.set(`event:${key}:${entry.time}`, writeEvent));
    // Reality names what runs (the previous manifest), so intent ≠ reality shows as not converged.
    const writeReality = () => this.reality.write(previous, uniqueKey);
    await writeReality().catch(() => this.unwritten.set(`reality:${key}`, writeReality));
    await this.report({
      pod: manifest.id,
      uniqueKey,
      state: 'reverted',
      sha,
      revertedTo: previous.sha(),
      error: verdict.reason,
      code: HostAgentErrorCode.REVERTED,
    });
    return 'reverted';
  }

  /** Offers the pod's latest intent again later (5 s doubling to 60 s) while it stays the same. */
  private recheckLater(manifest: Manifest, uniqueKey: string): void {
    const key = workerKey(manifest.id, uniqueKey);
    const desired = this.latest.get(key);
    if (!desired) return;
    const previous = this.rechecks.get(key);
    if (previous) clearTimeout(previous.timer);
    const delayMs =
      previous?.desired === desired
        ? Math.min(previous.delayMs * 2, RECHECK_MAX_MS)
        : (this.options.recheckDelayMs ?? 5_000);
    const timer = setTimeout(() => {
      if (this.latest.get(key) === desired) this.offer(key, desired);
    }, delayMs);
    timer.unref();
    this.rechecks.set(key, { timer, delayMs, desired });
    this.log.info({ pod: manifest.id, retryInMs: delayMs }, 'checking the delegating record again');
  }

  private async remove(podId: string, uniqueKey: string): Promise<void> {
    const host = this.options.host;
    const layout = host.layout({ podId, uniqueKey });
    const onDisk = await host.currentManifest(layout).catch(() => undefined);
    if (onDisk) {
      await host.halt(onDisk, { uniqueKey, force: true }).catch((error: unknown) => {
        this.log.warn(
          { pod: podId, err: describeError(error) },
          'halt before uninstall failed; uninstalling anyway',
        );
      });
      await this.options.hooks
        ?.run('before_uninstall', { manifest: onDisk, layout })
        .catch(() => undefined);
    }
    const started = performance.now();
    if (!uniqueKey) await this.options.health?.untrack(podId);
    await host.uninstall({ podId, uniqueKey, alreadyHalted: onDisk !== undefined });
    // Uninstalled: reality must stop claiming it as soon as the store answers — not after the
    // worker's back-off, which a run of store failures stretches well past the outage.
    const removeReality = () => this.reality.remove(podId, uniqueKey);
    await removeReality().catch((error: unknown) => {
      this.options.metrics.storeErrors.inc({ op: 'reality' });
      this.log.warn(
        { pod: podId, err: describeError(error) },
        'could not remove the reality record; retrying as soon as the store answers',
      );
      this.unwritten.set(`reality:${workerKey(podId, uniqueKey)}`, removeReality);
    });
    // Its metric-gate verdict is no one's concern any more; a final report still owed is dropped.
    if (!uniqueKey) {
      const removeGate = () => removeGateReport(this.options.store, this.node, podId);
      await removeGate().catch(() => this.unwritten.set(`gate:${podId}`, removeGate));
    }
    this.known.delete(workerKey(podId, uniqueKey));
    this.options.metrics.uninstalls.inc({ result: 'success' });
    if (onDisk)
      this.log.info(
        { pod: podId, totalMs: Math.round(performance.now() - started) },
        'pod uninstalled',
      );
    // Removing the pod from intent is an intent change: a reverted SHA may be tried again later.
    if (this.reverted.get(workerKey(podId, uniqueKey)))
      await this.forgetRevert(workerKey(podId, uniqueKey));
    if (this.waits.get(workerKey(podId, uniqueKey)))
      await this.noteWait(workerKey(podId, uniqueKey), undefined);
    this.events.record(uniqueKey || podId, { type: 'removed' });
    await this.report({ pod: podId, uniqueKey, state: 'removed' });
    this.states.delete(workerKey(podId, uniqueKey));
    this.running.delete(workerKey(podId, uniqueKey));
  }

  /** Waits until every worker is idle (tests). */
  drain(): Promise<void> {
    return this.pool.drain();
  }

  /**
   * Stops watching; in-flight deploys finish (including their reality write), then the status
   * server closes. Apps keep running.
   */
  async stop(): Promise<void> {
    clearInterval(this.processTimer);
    clearInterval(this.retryTimer);
    clearTimeout(this.heartbeatTimer);
    for (const { timer } of this.rechecks.values()) clearTimeout(timer);
    this.controller.abort();
    await this.pool.close();
    await this.watchDone;
    await this.realityWatchDone;
    await this.prestageDone;
    await this.events.settle();
    await Promise.allSettled([...this.exports]);
    await this.statusServer?.close();
  }
}

/**
 * P2's `require_file` guard at start-up (spec 02 §1.1): the preparer refuses to start while the
 * file is missing.
 *
 * @throws HostAgentError `P2_PREPARER_REQUIRE_FILE_MISSING` naming the file
 * @example
 * ```ts
 * if (config.requireFile) assertRequireFile(config.requireFile);
 * ```
 */
export function assertRequireFile(path: string): void {
  if (existsSync(path)) return;
  throw new HostAgentError(
    HostAgentErrorCode.REQUIRE_FILE_MISSING,
    `require_file ${path} does not exist; refusing to start`,
    { hint: `create ${path} when this host may run pods` },
  );
}
