import { P2Error } from '@p2/errors';

/** Stable codes of the preparer's own errors. */
export const PreparerErrorCode = {
  CONFIG_MISSING: 'P2_PREPARER_CONFIG_MISSING',
  CONFIG_INVALID: 'P2_PREPARER_CONFIG_INVALID',
  REQUIRE_FILE_MISSING: 'P2_PREPARER_REQUIRE_FILE_MISSING',
  INTENT_CORRUPT: 'P2_PREPARER_INTENT_CORRUPT',
  DEPLOY_FAILED: 'P2_PREPARER_DEPLOY_FAILED',
} as const;
export type PreparerErrorCode = (typeof PreparerErrorCode)[keyof typeof PreparerErrorCode];

/** Errors raised by p2-preparer itself (package errors keep their own codes and are chained as `cause`). */
export class PreparerError extends P2Error<PreparerErrorCode> {}
