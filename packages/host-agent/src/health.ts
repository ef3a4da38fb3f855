/**
 * Health checks of running pods, published under `health/<pod>/<node>` with a session (keys vanish
 * when this host dies). The publisher's session is created in the background and retried while the
 * store is unreachable (P2's `session_retry_seconds` doubling to `session_max_retry_seconds`), so a
 * dead store never stops the preparer from starting.
 */
import { describeError } from '@p2/errors';
import {
  type FlapControlOptions,
  HealthChecker,
  healthTarget,
  StoreHealthPublisher,
} from '@p2/health';
import type { Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import type { Logger } from 'pino';
import type { HealthTracker } from './deploy.js';

/**
 * How health records are written (spec 02 §8; the preparer's `healthWriter`, from P2's params).
 * Every field defaults to P2's value.
 */
export interface HealthWriterSettings {
  /** The session's TTL (`health_session_ttl_sec`). @default 15_000 */
  sessionTtlMs?: number;
  /** First wait before creating the session again, doubled per failure (`session_retry_seconds`). @default 10_000 */
  sessionRetryBaseMs?: number;
  /** Longest such wait (`session_max_retry_seconds`). @default 300_000 */
  sessionRetryMaxMs?: number;
  /** Pause after a failed write (`health_retry_time_sec`). @default 5_000 */
  publishRetryMs?: number;
  /** The flap control token bucket (`health_max_bucket_size`, `health_writes_per_minute`, `health_resume_limit`). */
  flapControl?: FlapControlOptions;
}

/** Settings of {@link startHealthTracking}. */
export interface HealthTrackingOptions {
  store: Store;
  node: string;
  /** Host name health checks connect to. @default the node name */
  checkHost?: string;
  intervalMs: number;
  timeoutMs: number;
  /** How records are written. @default P2's settings */
  writer?: HealthWriterSettings;
  logger: Logger;
  /** Told each time a pod's published health changes (`from` is undefined at its first result). */
  onTransition?: (podId: string, from: string | undefined, to: string) => void;
}

/**
 * Starts health checking for the pods a deploy tracks; pods tracked before the store answers are
 * checked once it does.
 *
 * @example
 * ```ts
 * const health = startHealthTracking({ store, node: 'h1', intervalMs: 1000, timeoutMs: 5000, logger });
 * new Preparer({ ..., health: health.tracker });
 * await health.close();
 * ```
 */
export function startHealthTracking(options: HealthTrackingOptions): {
  tracker: HealthTracker;
  close(): Promise<void>;
} {
  const { store, node, logger: log } = options;
  const writer = options.writer ?? {};
  const retryBaseMs = writer.sessionRetryBaseMs ?? 10_000;
  const retryMaxMs = writer.sessionRetryMaxMs ?? 300_000;
  let checker: HealthChecker | undefined;
  let publisher: StoreHealthPublisher | undefined;
  let closed = false;
  // Pods untracked with `keepRecord`: their record is left for the reality write to withdraw.
  const kept = new Set<string>();
  const pending = new Map<string, Manifest>();
  const lastState = new Map<string, string>();
  const onTransition = options.onTransition;
  const target = (manifest: Manifest) => healthTarget(manifest, options.checkHost ?? node);
  const connect = async (delayMs: number): Promise<void> => {
    while (!closed) {
      try {
        const started = await StoreHealthPublisher.start({
          store,
          node,
          sessionTtlMs: writer.sessionTtlMs ?? 15_000,
          sessionRetryBaseMs: retryBaseMs,
          sessionRetryMaxMs: retryMaxMs,
          logger: log.child({ component: 'health' }),
        });
        if (closed) {
          await started.close();
          return;
        }
        publisher = started;
        checker = new HealthChecker({
          publisher: started,
          intervalMs: options.intervalMs,
          check: { timeoutMs: options.timeoutMs },
          publishRetryMs: writer.publishRetryMs ?? 5_000,
          ...(writer.flapControl ? { flapControl: writer.flapControl } : {}),
          ...(onTransition
            ? {
                onResult: (podId: string, _result: unknown, published: string | undefined) => {
                  if (published === undefined || lastState.get(podId) === published) return;
                  onTransition(podId, lastState.get(podId), published);
                  lastState.set(podId, published);
                },
              }
            : {}),
          logger: log.child({ component: 'health' }),
        });
        for (const manifest of pending.values()) checker.setPod(target(manifest));
        pending.clear();
        return;
      } catch (error) {
        log.warn(
          { err: describeError(error), retryInMs: delayMs },
          'health publisher could not start; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, retryMaxMs);
      }
    }
  };
  const connecting = connect(retryBaseMs);
  return {
    tracker: {
      track(manifest: Manifest) {
        kept.delete(manifest.id);
        if (checker) checker.setPod(target(manifest));
        else pending.set(manifest.id, manifest);
      },
      async untrack(podId: string, untrackOptions: { keepRecord?: boolean } = {}) {
        pending.delete(podId);
        lastState.delete(podId);
        const keepRecord = untrackOptions.keepRecord ?? false;
        const left = kept.delete(podId);
        if (keepRecord) kept.add(podId);
        const warn = (error: unknown) =>
          log.warn({ pod: podId, err: describeError(error) }, 'could not remove the health record');
        await checker?.removePod(podId, { keepRecord }).catch(warn);
        // A record left by an earlier `keepRecord` that no reality write withdrew.
        if (left && !keepRecord) await publisher?.remove(podId).catch(warn);
      },
    },
    async close() {
      closed = true;
      await connecting;
      await checker?.close();
    },
  };
}
