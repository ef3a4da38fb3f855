/** The roll farm: claims rolling updates through session locks and runs each one. */
import { type ControllerContext, type FarmOptions, LockFarm } from '@p2/controller-kit';
import { lockPrefixes, Prefix, type RollStatus } from '@p2/keyspace';
import { RollStore } from './roll-store.js';
import { type RollOutcome, runRollingUpdate } from './rolling-update.js';

/** Options of a {@link RollFarm}. */
export interface RollFarmOptions extends FarmOptions {
  /** Passed to each run. @default 1_000 */
  readonly rollPollMs?: number;
  /** Called with each run's outcome. */
  readonly onOutcome?: (id: string, outcome: RollOutcome) => void;
  /** Called with each run's status after every change (progress). */
  readonly onStatus?: (id: string, status: RollStatus) => void;
}

/**
 * Claims rolling updates through `lock/rolls/<id>` and runs each one ({@link runRollingUpdate});
 * a run that ends without finishing (`locked`, `interrupted`) is released and picked up again on a
 * later pass. Failed updates are left alone until an operator resumes or cancels them. `stop()`
 * stops every run (a later farm resumes them), releases the locks and destroys the session. (P2's
 * roll farm was wired incompletely in its server; this one runs updates end to end.)
 *
 * @example
 * ```ts
 * const farm = new RollFarm({ store }).start();
 * ```
 */
export class RollFarm extends LockFarm {
  constructor(ctx: ControllerContext, options: RollFarmOptions = {}) {
    const rolls = new RollStore(ctx.store);
    super(
      ctx.store,
      {
        name: 'roll',
        recordPrefix: Prefix.rolls,
        lockPrefix: lockPrefixes.rolls,
        accept: async (id) => (await rolls.status(id))?.state !== 'failed',
        spawn: (id) => {
          const abort = new AbortController();
          const done = runRollingUpdate(ctx, id, {
            signal: abort.signal,
            pollMs: options.rollPollMs ?? 1_000,
            ...(options.onStatus ? { onStatus: (s: RollStatus) => options.onStatus?.(id, s) } : {}),
            ...(options.sessionTtlMs === undefined ? {} : { sessionTtlMs: options.sessionTtlMs }),
          }).then(
            (outcome) => options.onOutcome?.(id, outcome),
            (error: unknown) => options.onError?.(error, id),
          );
          return {
            done,
            stop: async () => {
              abort.abort();
              await done;
            },
          };
        },
      },
      options,
      ctx.logger,
    );
  }
}
