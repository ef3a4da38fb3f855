import { type ControllerContext, type FarmOptions, LockFarm } from '@p2/controller-kit';
import { LabelStore, lockPrefixes, Prefix } from '@p2/keyspace';
import type { Selector } from '@p2/labels';
import { RcWorker, type ReconcileResult } from './controller.js';

/** Options of an {@link RcFarm}. */
export interface RcFarmOptions extends FarmOptions {
  /** Only claim RCs whose RC labels match. @default everything */
  readonly rcSelector?: Selector;
  /** Called after every successful pass of any worker. */
  readonly onPass?: (rcId: string, result: ReconcileResult) => void;
}

/**
 * Claims replication controllers through session locks (`lock/replication_controllers/<id>`) and
 * runs an {@link RcWorker} for each one it holds (P2's RC farm, spec 03 §1.2). Every write of a
 * worker proves the lock is still held.
 *
 * Deviation from P2: P2 crashed the process when it listed no RCs (a failsafe against reading an
 * empty store); this farm raises the same high-urgency alert and skips the pass instead.
 *
 * @example
 * ```ts
 * const farm = new RcFarm({ store }, { resyncMs: 5_000 }).start();
 * // … later
 * await farm.stop();
 * ```
 */
export class RcFarm extends LockFarm {
  constructor(ctx: ControllerContext, options: RcFarmOptions = {}) {
    const labels = ctx.labels ?? new LabelStore(ctx.store, { validate: false });
    const context = { ...ctx, labels };
    super(
      ctx.store,
      {
        name: 'rc',
        recordPrefix: Prefix.replicationControllers,
        lockPrefix: lockPrefixes.replicationControllers,
        accept: async (id) =>
          !options.rcSelector ||
          options.rcSelector.isEverything() ||
          options.rcSelector.matches((await labels.get('replication_controller', id)).labels),
        beforePass: async (ids) => {
          if (ids.length > 0) return true;
          ctx.alert?.({
            urgency: 'high',
            incidentKey: 'no_rcs_found',
            description:
              'the RC farm found no replication controllers; skipping this pass (P2 crashed here)',
          });
          return false;
        },
        spawn: (id, session) =>
          new RcWorker(context, id, {
            session,
            resyncMs: options.resyncMs ?? 30_000,
            onError: (error) => options.onError?.(error, id),
            onPass: (result) => options.onPass?.(id, result),
            onReconcile: (outcome) => options.onReconcile?.(id, outcome),
          }).start(),
      },
      options,
      ctx.logger,
    );
  }
}
