/**
 * Health checks of running pods, published under `health/<pod>/<node>` with a session (keys vanish
 * when this host dies). The publisher's session is created in the background and retried while the
 * store is unreachable, so a dead store never stops the preparer from starting.
 */
import { describeError } from '@p2/errors';
import { HealthChecker, healthTarget, StoreHealthPublisher } from '@p2/health';
import type { Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import type { Logger } from 'pino';
import type { HealthTracker } from './deploy.js';

/** Settings of {@link startHealthTracking}. */
export interface HealthTrackingOptions {
  store: Store;
  node: string;
  /** Host name health checks connect to. @default the node name */
  checkHost?: string;
  intervalMs: number;
  timeoutMs: number;
  logger: Logger;
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
  let checker: HealthChecker | undefined;
  let closed = false;
  const pending = new Map<string, Manifest>();
  const target = (manifest: Manifest) => healthTarget(manifest, options.checkHost ?? node);
  const connect = async (delayMs: number): Promise<void> => {
    while (!closed) {
      try {
        const publisher = await StoreHealthPublisher.start({
          store,
          node,
          logger: log.child({ component: 'health' }),
        });
        if (closed) {
          await publisher.close?.();
          return;
        }
        checker = new HealthChecker({
          publisher,
          intervalMs: options.intervalMs,
          check: { timeoutMs: options.timeoutMs },
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
        delayMs = Math.min(delayMs * 2, 60_000);
      }
    }
  };
  const connecting = connect(1000);
  return {
    tracker: {
      track(manifest: Manifest) {
        if (checker) checker.setPod(target(manifest));
        else pending.set(manifest.id, manifest);
      },
      async untrack(podId: string) {
        pending.delete(podId);
        await checker?.removePod(podId).catch((error: unknown) => {
          log.warn({ pod: podId, err: describeError(error) }, 'could not remove the health record');
        });
      },
    },
    async close() {
      closed = true;
      await connecting;
      await checker?.close();
    },
  };
}
