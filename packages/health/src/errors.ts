import { P2Error, type P2ErrorOptions } from '@p2/errors';

/** Stable codes of every error `@p2/health` throws. Never renumber or rename one. */
export const HealthErrorCode = {
  /** A stored health value is not P2's JSON record (`{"Id","Node","Service","Status","Time","Expires"}`). */
  INVALID_RECORD: 'P2_HEALTH_INVALID_RECORD',
  /** A store key is not of the form `health/<podID>/<node>`. */
  INVALID_KEY: 'P2_HEALTH_INVALID_KEY',
  /** An option or target is out of range (interval ≤ 0, port outside 1–65535, …). */
  INVALID_OPTIONS: 'P2_HEALTH_INVALID_OPTIONS',
  /** Writing a result to the store failed (the checker retries on the next check). */
  PUBLISH_FAILED: 'P2_HEALTH_PUBLISH_FAILED',
  /** The publisher was used after `close()`. */
  CLOSED: 'P2_HEALTH_CLOSED',
} as const;

/** One of the {@link HealthErrorCode} values. */
export type HealthErrorCode = (typeof HealthErrorCode)[keyof typeof HealthErrorCode];

/**
 * The one error class of `@p2/health`; `code` is one of {@link HealthErrorCode}.
 *
 * @example
 * ```ts
 * try { decodeHealthRecord('not json') } catch (e) { if (e instanceof HealthError) e.code } // 'P2_HEALTH_INVALID_RECORD'
 * ```
 */
export class HealthError extends P2Error<HealthErrorCode> {
  constructor(code: HealthErrorCode, message: string, options?: P2ErrorOptions) {
    super(code, message, options);
  }
}
