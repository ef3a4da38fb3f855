import { P2Error, type P2ErrorOptions } from '@p2/errors';

/** Stable codes of every error `@p2/health` throws. Never renumber or rename one. */
export const HealthErrorCode = {
  /** An option or target is out of range (interval ≤ 0, port outside 1–65535, …). */
  INVALID_OPTIONS: 'P2_HEALTH_INVALID_OPTIONS',
  /** Writing a result to the store failed (the checker retries on the next check). */
  PUBLISH_FAILED: 'P2_HEALTH_PUBLISH_FAILED',
  /** The publisher was used after `close()`. */
  CLOSED: 'P2_HEALTH_CLOSED',
  /** A metric gate does not parse, or names a bad path or a negative soak. */
  BAD_GATE: 'P2_HEALTH_BAD_GATE',
  /** A pod's metrics answer is not Prometheus text format. */
  BAD_METRICS: 'P2_HEALTH_BAD_METRICS',
} as const;

/** One of the {@link HealthErrorCode} values. */
export type HealthErrorCode = (typeof HealthErrorCode)[keyof typeof HealthErrorCode];

/**
 * The one error class of `@p2/health`; `code` is one of {@link HealthErrorCode}. (Unreadable health
 * records and keys are `@p2/keyspace`'s: `KvError` `P2_KV_BAD_RECORD` / `P2_KV_INVALID_KEY`.)
 *
 * @example
 * ```ts
 * try { new HealthChecker({ publisher, intervalMs: 0 }) } catch (e) { if (e instanceof HealthError) e.code } // 'P2_HEALTH_INVALID_OPTIONS'
 * ```
 */
export class HealthError extends P2Error<HealthErrorCode> {
  constructor(code: HealthErrorCode, message: string, options?: P2ErrorOptions) {
    super(code, message, options);
  }
}
