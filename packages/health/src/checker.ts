import { describeError } from '@p2/errors';
import pino, { type Logger } from 'pino';
import {
  checkPodHealth,
  type HealthCheckOptions,
  type HealthResult,
  type HealthTarget,
} from './check.js';
import { HealthError, HealthErrorCode } from './errors.js';
import type { HealthPublisher } from './publisher.js';
import type { HealthState } from './state.js';

/** P2's flap control: a token bucket per pod; each published status change takes a token. */
export interface FlapControlOptions {
  /** Bucket size. @default 16 */
  burst?: number;
  /** Tokens added per minute. @default 4 */
  refillPerMinute?: number;
  /** When the bucket runs dry, `unknown` is published and held for this many refill periods. @default 4 */
  holdRefillPeriods?: number;
}

/** Options of {@link HealthChecker}. */
export interface HealthCheckerOptions {
  publisher: HealthPublisher;
  /** Time between the end of one check of a pod and the start of the next (a target's own `intervalMs` wins). @default 1000 (P2) */
  intervalMs?: number;
  /** Random spread of each interval, as a fraction (0.1 = ±10 %), so pods do not check in lockstep. @default 0.1 */
  jitter?: number;
  /** Checks running at once across all pods. @default 8 */
  concurrency?: number;
  /** Republish an unchanged status this often (a status changed is published at once). @default 60_000 */
  refreshMs?: number;
  /** Options of every check (timeout, TLS, redirects). */
  check?: Omit<HealthCheckOptions, 'signal'>;
  /** P2's flap throttling; `false` turns it off. @default { burst: 16, refillPerMinute: 4, holdRefillPeriods: 4 } */
  flapControl?: FlapControlOptions | false;
  /**
   * After a failed publish, publish again only once this much time has passed (P2's
   * `health_retry_time_sec`, 5 s); checks go on meanwhile. `0` retries on the next check.
   * @default 0
   */
  publishRetryMs?: number;
  /**
   * The clock of flap control and publish retries (milliseconds). Monotonic by default: a wall
   * clock set back must not silence health publishing until it catches up.
   * @default performance.now
   */
  now?: () => number;
  /** Called after every check with what (if anything) was published. */
  onResult?: (podId: string, result: HealthResult, published: HealthState | undefined) => void;
  logger?: Logger;
  /**
   * Start-up probing: a pod added (or whose settings changed) is checked at once, then after this
   * long, doubling up to `startupProbeMaxMs`, until it first passes or `startupWindowMs` passed —
   * so an app that just started is seen passing within `startupProbeMaxMs` of its first answer,
   * not an interval later. `false` keeps P2's behaviour (the first check within one interval,
   * spread at random).
   * @default 25
   */
  startupProbeMs?: number | false;
  /** Longest delay between two start-up probes (see `startupProbeMs`). @default 100 */
  startupProbeMaxMs?: number;
  /**
   * How long start-up probing lasts at most; a pod that has not passed by then is checked at its
   * interval. @default 10_000, or the interval when that is longer
   */
  startupWindowMs?: number;
  /** Runs one check; replace only to check something other than HTTP. @default checkPodHealth */
  checkFn?: (target: HealthTarget, options: HealthCheckOptions) => Promise<HealthResult>;
}

interface PodState {
  target: HealthTarget;
  settings: string;
  generation: number;
  timer: NodeJS.Timeout | undefined;
  queued: boolean;
  running: boolean;
  /** The check (and publish) in flight, if any. */
  current: Promise<void> | undefined;
  removed: boolean;
  latest: HealthResult | undefined;
  published: { status: HealthState; at: number } | undefined;
  publishFailed: boolean;
  /** When the last publish failed (with `publishFailed`). */
  failedAt: number;
  bucket: { tokens: number; refilledAt: number; holdUntil: number };
  /** The next start-up probe delay while the pod has not passed yet (see `startupProbeMs`). */
  startup: number | undefined;
  /** When start-up probing ends (see `startupWindowMs`). */
  startupUntil: number;
}

/**
 * Checks every pod of a host on its own schedule and publishes results.
 *
 * - one check of a pod at a time (the next is scheduled only when the last finished);
 * - an interval per pod with jitter; at most `concurrency` checks at once;
 * - a result is published when its status differs from the last one published, when the last
 *   publish failed (once `publishRetryMs` passed), and every `refreshMs` otherwise;
 * - P2's flap control (token bucket, `unknown` while throttled);
 * - changing a pod's status settings replaces its check; removing a pod removes its published result.
 *
 * @example
 * ```ts
 * const checker = new HealthChecker({ publisher: await StoreHealthPublisher.start({ store, node: 'h1' }) });
 * checker.setPods([healthTarget(manifest, 'h1')]);  // health/web/h1 follows the pod from now on
 * await checker.close();
 * ```
 */
export class HealthChecker {
  readonly #pods = new Map<string, PodState>();
  readonly #queue: PodState[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #publisher: HealthPublisher;
  readonly #intervalMs: number;
  readonly #jitter: number;
  readonly #concurrency: number;
  readonly #refreshMs: number;
  readonly #checkOptions: Omit<HealthCheckOptions, 'signal'>;
  readonly #flap: Required<FlapControlOptions> | undefined;
  readonly #publishRetryMs: number;
  readonly #now: () => number;
  readonly #onResult: HealthCheckerOptions['onResult'];
  readonly #logger: Logger;
  readonly #checkFn: NonNullable<HealthCheckerOptions['checkFn']>;
  readonly #startupMs: number | undefined;
  readonly #startupMaxMs: number;
  readonly #startupWindowMs: number | undefined;
  readonly #abort = new AbortController();
  #running = 0;
  #closed = false;

  /** @throws {HealthError} `P2_HEALTH_INVALID_OPTIONS` for a non-positive interval or concurrency, or jitter outside [0, 1). */
  constructor(options: HealthCheckerOptions) {
    this.#publisher = options.publisher;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#jitter = options.jitter ?? 0.1;
    this.#concurrency = options.concurrency ?? 8;
    this.#refreshMs = options.refreshMs ?? 60_000;
    this.#checkOptions = options.check ?? {};
    this.#flap =
      options.flapControl === false
        ? undefined
        : {
            burst: options.flapControl?.burst ?? 16,
            refillPerMinute: options.flapControl?.refillPerMinute ?? 4,
            holdRefillPeriods: options.flapControl?.holdRefillPeriods ?? 4,
          };
    this.#publishRetryMs = options.publishRetryMs ?? 0;
    this.#now = options.now ?? (() => performance.now());
    this.#onResult = options.onResult;
    this.#logger = options.logger ?? pino({ level: 'silent' });
    this.#checkFn = options.checkFn ?? checkPodHealth;
    this.#startupMs = options.startupProbeMs === false ? undefined : (options.startupProbeMs ?? 25);
    this.#startupMaxMs = options.startupProbeMaxMs ?? 100;
    this.#startupWindowMs = options.startupWindowMs;
    const bad = (what: string) => {
      throw new HealthError(HealthErrorCode.INVALID_OPTIONS, `health checker: ${what}`);
    };
    if (!(this.#intervalMs > 0)) bad(`intervalMs must be > 0, found ${this.#intervalMs}`);
    if (!(this.#jitter >= 0 && this.#jitter < 1))
      bad(`jitter must be in [0, 1), found ${this.#jitter}`);
    if (!(Number.isInteger(this.#concurrency) && this.#concurrency >= 1)) {
      bad(`concurrency must be an integer ≥ 1, found ${this.#concurrency}`);
    }
    if (!(this.#refreshMs > 0)) bad(`refreshMs must be > 0, found ${this.#refreshMs}`);
    if (this.#startupMs !== undefined && !(this.#startupMs > 0))
      bad(`startupProbeMs must be > 0 or false, found ${this.#startupMs}`);
    if (!(this.#startupMaxMs > 0))
      bad(`startupProbeMaxMs must be > 0, found ${this.#startupMaxMs}`);
    if (this.#startupWindowMs !== undefined && !(this.#startupWindowMs >= 0))
      bad(`startupWindowMs must be ≥ 0, found ${this.#startupWindowMs}`);
    if (!(this.#publishRetryMs >= 0))
      bad(`publishRetryMs must be ≥ 0, found ${this.#publishRetryMs}`);
    if (this.#flap !== undefined && !(this.#flap.burst >= 1 && this.#flap.refillPerMinute > 0)) {
      bad('flapControl needs burst ≥ 1 and refillPerMinute > 0');
    }
  }

  /** Pods being checked. */
  podIds(): string[] {
    return [...this.#pods.keys()];
  }

  /** The last result of a pod (published or not). */
  latest(podId: string): HealthResult | undefined {
    return this.#pods.get(podId)?.latest;
  }

  /**
   * Starts checking a pod, or replaces its check when its status settings or host changed (P2
   * replaced the checker then); unchanged settings leave the schedule alone.
   */
  setPod(target: HealthTarget): void {
    this.#assertOpen();
    if (target.intervalMs !== undefined && !(target.intervalMs > 0)) {
      throw new HealthError(
        HealthErrorCode.INVALID_OPTIONS,
        `health checker: intervalMs of pod ${target.podId} must be > 0, found ${target.intervalMs}`,
      );
    }
    const settings = JSON.stringify([
      target.host,
      target.status ?? null,
      target.intervalMs ?? null,
    ]);
    const existing = this.#pods.get(target.podId);
    if (existing !== undefined) {
      if (existing.settings === settings) return;
      existing.target = target;
      existing.settings = settings;
      existing.generation += 1;
      existing.latest = undefined;
      existing.startup = this.#startupMs;
      existing.startupUntil = this.#startupEnd(target);
      // A running check finishes first (never two at once); its result is then discarded.
      if (!existing.running && !existing.queued)
        this.#schedule(existing, this.#firstDelay(existing));
      return;
    }
    const pod: PodState = {
      target,
      settings,
      generation: 0,
      timer: undefined,
      queued: false,
      running: false,
      current: undefined,
      removed: false,
      latest: undefined,
      published: undefined,
      publishFailed: false,
      failedAt: 0,
      bucket: { tokens: this.#flap?.burst ?? 0, refilledAt: this.#now(), holdUntil: 0 },
      startup: this.#startupMs,
      startupUntil: this.#startupEnd(target),
    };
    this.#pods.set(target.podId, pod);
    this.#schedule(pod, this.#firstDelay(pod));
  }

  /**
   * Checks a pod as soon as a slot is free instead of waiting for its timer (e.g. right after a
   * launch). A check already running or queued is not doubled. Unknown pods are ignored.
   */
  checkNow(podId: string): void {
    this.#assertOpen();
    const pod = this.#pods.get(podId);
    if (pod === undefined || pod.running || pod.queued) return;
    clearTimeout(pod.timer);
    pod.timer = undefined;
    this.#enqueue(pod);
  }

  /** Makes the checked set exactly `targets`: adds, replaces changed ones, removes the rest. */
  async setPods(targets: Iterable<HealthTarget>): Promise<void> {
    const wanted = new Set<string>();
    for (const target of targets) {
      wanted.add(target.podId);
      this.setPod(target);
    }
    await Promise.all(
      [...this.#pods.keys()].filter((id) => !wanted.has(id)).map((id) => this.removePod(id)),
    );
  }

  /**
   * Stops checking a pod and removes its published result — or, with `keepRecord`, only forgets it
   * ({@link HealthPublisher.forget}): the caller withdraws the record itself, in a write of its own
   * (the preparer: in the transaction that records the pod's next version). Either way nothing is
   * published for the pod once this resolves.
   *
   * @throws {HealthError} `P2_HEALTH_PUBLISH_FAILED` when the publisher cannot remove it.
   */
  async removePod(podId: string, options: { keepRecord?: boolean } = {}): Promise<void> {
    const pod = this.#pods.get(podId);
    if (pod === undefined) return;
    pod.removed = true;
    clearTimeout(pod.timer);
    this.#pods.delete(podId);
    const queuedAt = this.#queue.indexOf(pod);
    if (queuedAt >= 0) this.#queue.splice(queuedAt, 1);
    // A publish in flight could otherwise land after the removal and leave the key behind.
    await pod.current;
    if (options.keepRecord && this.#publisher.forget) await this.#publisher.forget(podId);
    else await this.#publisher.remove(podId);
  }

  /** Stops every check, waits for running ones, and closes the publisher (if it has `close`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    for (const pod of this.#pods.values()) {
      pod.removed = true;
      clearTimeout(pod.timer);
    }
    this.#queue.length = 0;
    await Promise.allSettled([...this.#inFlight]);
    await this.#publisher.close?.();
  }

  #firstDelay(pod: PodState): number {
    if (pod.startup !== undefined) return 0;
    // P2 checked first after one interval; spread first checks across the interval instead.
    return Math.random() * (pod.target.intervalMs ?? this.#intervalMs);
  }

  #startupEnd(target: HealthTarget): number {
    const interval = target.intervalMs ?? this.#intervalMs;
    return this.#now() + (this.#startupWindowMs ?? Math.max(10_000, interval));
  }

  #nextDelay(pod: PodState): number {
    const interval = pod.target.intervalMs ?? this.#intervalMs;
    if (
      pod.startup !== undefined &&
      pod.latest?.status !== 'passing' &&
      this.#now() < pod.startupUntil
    ) {
      // Capped, so the first answer is seen within startupProbeMaxMs however late it comes.
      const delay = Math.min(pod.startup, this.#startupMaxMs, interval);
      pod.startup = Math.min(delay * 2, this.#startupMaxMs);
      return delay;
    }
    pod.startup = undefined;
    return (
      (pod.target.intervalMs ?? this.#intervalMs) * (1 + this.#jitter * (2 * Math.random() - 1))
    );
  }

  #schedule(pod: PodState, delayMs: number): void {
    clearTimeout(pod.timer);
    pod.timer = setTimeout(() => {
      pod.timer = undefined;
      this.#enqueue(pod);
    }, delayMs);
  }

  #enqueue(pod: PodState): void {
    if (pod.removed || pod.queued || pod.running) return;
    pod.queued = true;
    this.#queue.push(pod);
    this.#drain();
  }

  #drain(): void {
    while (this.#running < this.#concurrency && this.#queue.length > 0) {
      const pod = this.#queue.shift()!;
      pod.queued = false;
      if (pod.removed) continue;
      this.#running += 1;
      pod.running = true;
      const run = this.#run(pod)
        .catch((error: unknown) => {
          // Only a throwing onResult callback gets here; it must not stop the loop.
          this.#logger.error(
            { podId: pod.target.podId, err: describeError(error) },
            'health onResult failed',
          );
        })
        .finally(() => {
          this.#running -= 1;
          pod.running = false;
          pod.current = undefined;
          this.#inFlight.delete(run);
          if (!pod.removed && !this.#closed && pod.timer === undefined) {
            this.#schedule(pod, this.#nextDelay(pod));
          }
          this.#drain();
        });
      pod.current = run;
      this.#inFlight.add(run);
    }
  }

  async #run(pod: PodState): Promise<void> {
    const generation = pod.generation;
    let result: HealthResult;
    try {
      result = await this.#checkFn(pod.target, {
        ...this.#checkOptions,
        signal: this.#abort.signal,
      });
    } catch (error) {
      result = {
        status: 'critical',
        reason: `check failed: ${describeError(error)}`,
        durationMs: 0,
        checkedAt: new Date(),
      };
    }
    if (pod.removed || this.#closed) return;
    if (generation !== pod.generation) {
      // Settings changed while this check ran: check again at once with the new ones.
      this.#schedule(pod, 0);
      return;
    }
    pod.latest = result;
    const toPublish = this.#decide(pod, result.status);
    let published: HealthState | undefined;
    if (toPublish !== undefined) {
      try {
        await this.#publisher.publish(pod.target.podId, { ...result, status: toPublish });
        pod.published = { status: toPublish, at: this.#now() };
        pod.publishFailed = false;
        published = toPublish;
        this.#logger.debug(
          { podId: pod.target.podId, status: toPublish, reason: result.reason },
          'health published',
        );
      } catch (error) {
        pod.publishFailed = true;
        pod.failedAt = this.#now();
        this.#logger.warn(
          { podId: pod.target.podId, err: describeError(error), retryInMs: this.#publishRetryMs },
          'cannot publish health; retrying',
        );
      }
    }
    this.#onResult?.(pod.target.podId, result, published);
  }

  /** What to publish now, or `undefined` for nothing. */
  #decide(pod: PodState, status: HealthState): HealthState | undefined {
    const now = this.#now();
    // After a failed write, the store gets a rest before the next one (P2's health_retry_time_sec).
    if (pod.publishFailed && now - pod.failedAt < this.#publishRetryMs) return undefined;
    const last = pod.published;
    const refreshDue = last === undefined || pod.publishFailed || now - last.at >= this.#refreshMs;
    const flap = this.#flap;
    if (flap === undefined) return last?.status !== status || refreshDue ? status : undefined;

    const bucket = pod.bucket;
    const periodMs = 60_000 / flap.refillPerMinute;
    const refills = Math.floor((now - bucket.refilledAt) / periodMs);
    if (refills > 0) {
      bucket.tokens = Math.min(flap.burst, bucket.tokens + refills);
      bucket.refilledAt += refills * periodMs;
    }
    if (now < bucket.holdUntil) return refreshDue ? 'unknown' : undefined; // throttled: keep unknown
    if (last !== undefined && last.status === status) return refreshDue ? status : undefined;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return status;
    }
    bucket.holdUntil = now + flap.holdRefillPeriods * periodMs;
    this.#logger.warn({ podId: pod.target.podId }, 'health flapping: publishing unknown');
    return last?.status === 'unknown' && !refreshDue ? undefined : 'unknown';
  }

  #assertOpen(): void {
    if (this.#closed) throw new HealthError(HealthErrorCode.CLOSED, 'the health checker is closed');
  }
}
