/** P2-style transaction builder: at most 64 operations, branchable, committed with transport retries. */
import { KvError, KvErrorCodes } from './errors.js';
import { MAX_TXN_OPS } from './keys.js';
import type { Store, TxnOp, TxnResult } from './types.js';
import { sleep } from './watch.js';

/**
 * Collects operations for one atomic commit. Adding the 65th operation throws, as P2's builder did.
 *
 * @example
 * ```ts
 * const txn = new Transaction().add({ verb: 'check-session', key: 'lock/rolls/x', session: id });
 * txn.add({ verb: 'set', key: 'intent/node1/hello', value: manifest.raw });
 * const result = await txn.commit(store); // { committed: true, results } or { committed: false, errors }
 * ```
 */
export class Transaction {
  private readonly ops: TxnOp[];

  constructor(ops: readonly TxnOp[] = []) {
    this.ops = [...ops];
    if (this.ops.length > MAX_TXN_OPS) throw tooMany(this.ops.length);
  }

  /** Number of operations so far. */
  get size(): number {
    return this.ops.length;
  }

  /** The operations, in order. */
  operations(): readonly TxnOp[] {
    return this.ops;
  }

  /** @throws KvError `P2_KV_TXN_TOO_LARGE` on the 65th operation. */
  add(...ops: TxnOp[]): this {
    if (this.ops.length + ops.length > MAX_TXN_OPS) throw tooMany(this.ops.length + ops.length);
    this.ops.push(...ops);
    return this;
  }

  /** A new transaction starting with a copy of these operations (e.g. `check-session` proofs). */
  branch(): Transaction {
    return new Transaction(this.ops);
  }

  /**
   * Commits. Transport failures (`P2_KV_UNAVAILABLE`) are retried with exponential backoff
   * (100 ms → 10 s) for up to `retryForMs`; a rollback is an answer, never retried.
   */
  async commit(
    store: Store,
    options: { retryForMs?: number; signal?: AbortSignal } = {},
  ): Promise<TxnResult> {
    const deadline = performance.now() + (options.retryForMs ?? 0);
    let delay = 100;
    for (;;) {
      try {
        return await store.txn(this.ops, { signal: options.signal });
      } catch (error) {
        const retryable = error instanceof KvError && error.code === KvErrorCodes.UNAVAILABLE;
        if (!retryable || performance.now() + delay > deadline || options.signal?.aborted)
          throw error;
        await sleep(delay, options.signal);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }
}

function tooMany(count: number): KvError {
  return new KvError(
    KvErrorCodes.TXN_TOO_LARGE,
    `a transaction holds at most ${MAX_TXN_OPS} operations, got ${count}`,
    { hint: 'split the work into several transactions', details: { operations: count } },
  );
}
