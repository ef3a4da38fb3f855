/**
 * The controller process's body: one RC farm, one roll farm and one DS farm on one store, sharing a
 * label store and a health source that reads `health/<pod>/<node>`, with alerts and worker errors
 * logged. `p2-controllers` parses argv, creates the store and calls {@link startControllerFarms}.
 */

import {
  type Alert,
  type ControllerContext,
  type IntentSigner,
  type LockFarm,
  StoreHealthSource,
} from '@p2/controller-kit';
import { DsFarm } from '@p2/daemon-set';
import { redactCredentials } from '@p2/errors';
import { LabelStore, Prefix } from '@p2/keyspace';
import { explainDenied, KvError, KvErrorCodes, type Store, type StoreToken } from '@p2/kv';
import { RcFarm } from '@p2/rc';
import { RollFarm } from '@p2/roll';
import pino, { type Logger } from 'pino';
import type { ControllerMetrics } from './metrics.js';

/** The farms a controller process can run, in the order they start. */
export const CONTROLLER_FARMS = ['rc', 'roll', 'ds'] as const;
/** One of {@link CONTROLLER_FARMS}. */
export type ControllerFarmName = (typeof CONTROLLER_FARMS)[number];

/** Which farms {@link startControllerFarms} runs and how often they look again. */
export interface ControllerFarmsOptions {
  /** The store the farms read and write; the caller closes it after `stop()`. */
  readonly store: Store;
  /** Farms to run. @default all three */
  readonly farms?: readonly ControllerFarmName[];
  /** Longest wait of a worker before it re-reconciles without a change. @default 30_000 */
  readonly resyncMs?: number;
  /**
   * Most nodes a daemon set replaces at once that are not yet healthy (its `min_health` still
   * holds). Larger fleets want more: each wave waits for the last one's health, and every pass
   * reads each node's intent and reality. @default 50 (P2's)
   */
  readonly dsMaxInFlight?: number;
  /** How often a rolling update re-reads health and counts. @default 1_000 */
  readonly rollPollMs?: number;
  /** Session TTL of the farms' lock sessions. @default 15_000 */
  readonly sessionTtlMs?: number;
  /** Lock-delay of the farms' sessions. @default 5_000 */
  readonly lockDelayMs?: number;
  /** pino logger for alerts, worker errors and roll outcomes. @default silent */
  readonly logger?: Logger;
  /** Where the farms' metrics go (reconciles, placements, roll progress, locks, errors, alerts). */
  readonly metrics?: ControllerMetrics;
  /** Called with every alert after it is logged (e.g. a {@link WebhookAlerter}'s `send`); must not block. */
  readonly onAlert?: (alert: Alert) => void;
  /**
   * Delegated signing: signs every unsigned manifest the farms write into intent, naming the RC or
   * daemon set that asked for it (@p2/auth's `DelegatedSigner`). @default manifests written unsigned
   */
  readonly intentSigner?: IntentSigner;
}

/** Farms started by {@link startControllerFarms}. */
export interface RunningControllerFarms {
  /** The farms that run. */
  readonly farms: readonly ControllerFarmName[];
  /** Stops every farm, releasing its locks and sessions (the store stays open). */
  stop(): Promise<void>;
}

/**
 * Starts the farms on `store`. Errors of workers are logged (with the controller id) and retried by
 * the farms; alerts are logged as errors (high urgency) or warnings.
 *
 * @example
 * ```ts
 * const store = createStore('consul://127.0.0.1:8500');
 * const running = startControllerFarms({ store, farms: ['rc', 'ds'], logger: pino() });
 * process.once('SIGTERM', async () => { await running.stop(); await store.close(); });
 * ```
 */
export function startControllerFarms(options: ControllerFarmsOptions): RunningControllerFarms {
  const log = options.logger ?? pino({ level: 'silent' });
  const { store, metrics } = options;
  const ctx: ControllerContext = {
    store,
    labels: new LabelStore(store, { validate: false }),
    health: new StoreHealthSource(store),
    logger: log,
    ...(options.intentSigner ? { intentSigner: options.intentSigner } : {}),
    alert: (alert: Alert) => {
      log[alert.urgency === 'high' ? 'error' : 'warn'](
        { alert: alert.incidentKey, details: alert.details },
        alert.description,
      );
      metrics?.alerts.inc({ urgency: alert.urgency });
      options.onAlert?.(alert);
    },
  };
  const common = (kind: ControllerFarmName) => ({
    ...(options.sessionTtlMs === undefined ? {} : { sessionTtlMs: options.sessionTtlMs }),
    ...(options.lockDelayMs === undefined ? {} : { lockDelayMs: options.lockDelayMs }),
    ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
    onError: (error: unknown, id?: string) => {
      metrics?.errors.inc({ farm: kind });
      log.warn({ farm: kind, id, err: error }, `${kind} farm: ${redactCredentials(String(error))}`);
    },
    onReconcile: (_id: string, outcome: string) => metrics?.reconciles.inc({ farm: kind, outcome }),
  });
  const counted =
    (kind: ControllerFarmName) => (_id: string, result: { added: string[]; removed: string[] }) => {
      if (result.added.length > 0) metrics?.placements.inc({ farm: kind }, result.added.length);
      if (result.removed.length > 0)
        metrics?.unschedules.inc({ farm: kind }, result.removed.length);
    };
  const wanted = new Set(options.farms ?? CONTROLLER_FARMS);
  const farms = new Map<ControllerFarmName, LockFarm>();
  if (wanted.has('rc'))
    farms.set('rc', new RcFarm(ctx, { ...common('rc'), onPass: counted('rc') }).start());
  if (wanted.has('roll'))
    farms.set(
      'roll',
      new RollFarm(ctx, {
        ...common('roll'),
        ...(options.rollPollMs === undefined ? {} : { rollPollMs: options.rollPollMs }),
        onStatus: (id, status) => metrics?.rollStatus(id, status),
        onOutcome: (id, outcome) => {
          log.info({ roll: id, outcome }, 'rolling update ended');
          metrics?.reconciles.inc({ farm: 'roll', outcome });
          metrics?.rollEnded(id);
        },
      }).start(),
    );
  if (wanted.has('ds'))
    farms.set(
      'ds',
      new DsFarm(ctx, {
        ...common('ds'),
        ...(options.dsMaxInFlight === undefined ? {} : { maxInFlight: options.dsMaxInFlight }),
        onPass: counted('ds'),
      }).start(),
    );
  for (const [name, farm] of farms) metrics?.trackLocks(name, () => farm.owned.length);
  return {
    farms: [...wanted],
    async stop() {
      await Promise.all([...farms.values()].map((f) => f.stop()));
    },
  };
}

/**
 * Reads once from the store so that a missing or wrong ACL token stops a controller process at
 * start with an explanation, instead of farms logging the same 403 forever. Other failures (a store
 * not up yet) are left to the farms' retries.
 *
 * @throws KvError `P2_KV_PERMISSION_DENIED`, saying which token was sent and where it was looked for
 * @example
 * ```ts
 * const found = await findStoreToken({ flag });
 * const store = createStore(url, { token: found.token });
 * await checkStoreAccess(store, found);
 * ```
 */
export async function checkStoreAccess(store: Store, found: StoreToken): Promise<void> {
  try {
    await store.keys(Prefix.replicationControllers);
  } catch (error) {
    if (error instanceof KvError && error.code === KvErrorCodes.PERMISSION_DENIED)
      throw explainDenied(error, found);
  }
}
