/**
 * The controller process: a store client and `@p2/controller-farms`' farms on it.
 */
import { type ControllerFarmsOptions, startControllerFarms } from '@p2/controller-farms';
import { redactCredentials } from '@p2/errors';
import { createStore, type Store, type StoreOptions } from '@p2/kv';
import pino from 'pino';
import { ControllersError, ControllersErrorCode } from './errors.js';

/** The store to run on, and the farms' options. */
export interface ControllersOptions extends Omit<ControllerFarmsOptions, 'store'> {
  /** Store location (`consul://host:port`, `etcd://…`, or `host:port`). */
  readonly store: string;
  /** ACL token (the CLI finds it as `p2` does: `--token`, `CONSUL_HTTP_TOKEN`, the token file). */
  readonly token?: string;
  /** TLS files and headers of the store client (`--ca-file`, `--cert-file`, `--key-file`, `--header`). */
  readonly storeOptions?: Omit<StoreOptions, 'token' | 'logger'>;
}

/** A running set of farms. */
export interface RunningControllers {
  readonly store: Store;
  /** Stops every farm (releasing its locks and sessions) and closes the store client. */
  stop(): Promise<void>;
}

/**
 * Starts the farms on a new store client.
 * @throws ControllersError P2_CONTROLLERS_INVALID_ARGUMENT when `store` is empty
 */
export function startControllers(options: ControllersOptions): RunningControllers {
  if (options.store.trim() === '')
    throw new ControllersError(ControllersErrorCode.INVALID_ARGUMENT, 'no store given', {
      hint: 'pass --store consul://127.0.0.1:8500, or set P2_STORE or CONSUL_HTTP_ADDR',
    });
  const log = options.logger ?? pino({ level: 'silent' });
  const store = createStore(options.store, {
    ...options.storeOptions,
    ...(options.token ? { token: options.token } : {}),
  });
  const running = startControllerFarms({ ...options, store, logger: log });
  log.info(
    { store: redactCredentials(options.store), farms: running.farms },
    'controllers started',
  );
  return {
    store,
    async stop() {
      await running.stop();
      await store.close();
      log.info('controllers stopped');
    },
  };
}
