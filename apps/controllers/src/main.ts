/**
 * The controller process: one RC farm, one roll farm and one DS farm on one store, sharing a label
 * store, the label scheduler and a health source that reads `health/<pod>/<node>`.
 */

import { type Alert, type ControllerContext, StoreHealthSource } from '@p2/controller-kit';
import { DsFarm } from '@p2/daemon-set';
import { redactCredentials } from '@p2/errors';
import { LabelStore, Prefix } from '@p2/keyspace';
import {
  createStore,
  explainDenied,
  KvError,
  KvErrorCodes,
  type Store,
  type StoreToken,
} from '@p2/kv';
import { RcFarm } from '@p2/rc';
import { RollFarm } from '@p2/roll';
import pino, { type Logger } from 'pino';
import { ControllersError, ControllersErrorCode } from './errors.js';

/** Which farms run and how often they look again. */
export interface ControllersOptions {
  /** Store location (`consul://host:port`, `etcd://…`, or `host:port`). */
  readonly store: string;
  /** ACL token (the CLI finds it as `p2` does: `--token`, `CONSUL_HTTP_TOKEN`, the token file). */
  readonly token?: string;
  /** Farms to run. @default all three */
  readonly farms?: ReadonlyArray<'rc' | 'roll' | 'ds'>;
  /** Longest wait of a worker before it re-reconciles without a change. @default 30_000 */
  readonly resyncMs?: number;
  /** How often a rolling update re-reads health and counts. @default 1_000 */
  readonly rollPollMs?: number;
  /** Session TTL of the farms' lock sessions. @default 15_000 */
  readonly sessionTtlMs?: number;
  /** Lock-delay of the farms' sessions. @default 5_000 */
  readonly lockDelayMs?: number;
  /** pino logger. @default silent */
  readonly logger?: Logger;
}

/** A running set of farms. */
export interface RunningControllers {
  readonly store: Store;
  /** Stops every farm (releasing its locks and sessions) and closes the store client. */
  stop(): Promise<void>;
}

const FARMS = ['rc', 'roll', 'ds'] as const;

/** Parses a positive integer of milliseconds (`--resync-ms`…). @throws ControllersError P2_CONTROLLERS_INVALID_ARGUMENT */
export function parseMs(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new ControllersError(
      ControllersErrorCode.INVALID_ARGUMENT,
      `${name} must be a positive whole number of milliseconds, got ${JSON.stringify(value)}`,
      { hint: `for example ${name} ${fallback}` },
    );
  return n;
}

/** Parses `--farms rc,roll,ds`. @throws ControllersError P2_CONTROLLERS_INVALID_ARGUMENT */
export function parseFarms(value: string | undefined): Array<'rc' | 'roll' | 'ds'> {
  if (value === undefined) return [...FARMS];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = names.filter((n) => !(FARMS as readonly string[]).includes(n));
  if (bad.length > 0 || names.length === 0)
    throw new ControllersError(
      ControllersErrorCode.INVALID_ARGUMENT,
      `--farms expects a comma-separated list of ${FARMS.join(', ')}; got ${JSON.stringify(value)}`,
      { hint: '--farms rc,roll,ds' },
    );
  return names as Array<'rc' | 'roll' | 'ds'>;
}

/**
 * Starts the farms. Errors of workers are logged (with the controller id) and retried by the farms.
 *
 * @throws ControllersError P2_CONTROLLERS_INVALID_ARGUMENT when `store` is empty
 * @example
 * ```ts
 * const running = startControllers({ store: 'consul://127.0.0.1:8500', logger: pino() });
 * process.once('SIGTERM', () => running.stop());
 * ```
 */
export function startControllers(options: ControllersOptions): RunningControllers {
  if (options.store.trim() === '')
    throw new ControllersError(ControllersErrorCode.INVALID_ARGUMENT, 'no store given', {
      hint: 'pass --store consul://127.0.0.1:8500 or set P2_STORE',
    });
  const log = options.logger ?? pino({ level: 'silent' });
  const store = createStore(options.store, options.token ? { token: options.token } : {});
  const labels = new LabelStore(store, { validate: false });
  const ctx: ControllerContext = {
    store,
    labels,
    health: new StoreHealthSource(store),
    logger: log,
    alert: (alert: Alert) =>
      log[alert.urgency === 'high' ? 'error' : 'warn'](
        { alert: alert.incidentKey, details: alert.details },
        alert.description,
      ),
  };
  const onError = (kind: string) => (error: unknown, id?: string) =>
    log.warn({ farm: kind, id, err: error }, `${kind} farm: ${redactCredentials(String(error))}`);
  const farm = {
    ...(options.sessionTtlMs === undefined ? {} : { sessionTtlMs: options.sessionTtlMs }),
    ...(options.lockDelayMs === undefined ? {} : { lockDelayMs: options.lockDelayMs }),
    ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
  };
  const wanted = new Set(options.farms ?? FARMS);
  const farms: Array<{ stop(): Promise<void> }> = [];
  if (wanted.has('rc')) farms.push(new RcFarm(ctx, { ...farm, onError: onError('rc') }).start());
  if (wanted.has('roll'))
    farms.push(
      new RollFarm(ctx, {
        ...farm,
        ...(options.rollPollMs === undefined ? {} : { rollPollMs: options.rollPollMs }),
        onError: onError('roll'),
        onOutcome: (id, outcome) => log.info({ roll: id, outcome }, 'rolling update ended'),
      }).start(),
    );
  if (wanted.has('ds')) farms.push(new DsFarm(ctx, { ...farm, onError: onError('ds') }).start());
  log.info({ store: redactCredentials(options.store), farms: [...wanted] }, 'controllers started');
  return {
    store,
    async stop() {
      await Promise.all(farms.map((f) => f.stop()));
      await store.close();
      log.info('controllers stopped');
    },
  };
}

/**
 * Reads once from the store so that a missing or wrong ACL token stops the process at start with
 * an explanation, instead of farms logging the same 403 forever. Other failures (a store not up
 * yet) are left to the farms' retries.
 *
 * @throws KvError `P2_KV_PERMISSION_DENIED`, saying which token was sent and where it was looked for
 * @example
 * ```ts
 * const found = await findStoreToken({ flag });
 * const running = startControllers({ store, token: found.token });
 * await checkStoreAccess(running.store, found);
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
