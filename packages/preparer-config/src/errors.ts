import { P2Error } from '@p2/errors';

/**
 * Stable codes of the preparer configuration's errors. They keep the `P2_PREPARER_*` names
 * operators and scripts know from `p2-preparer`.
 */
export const PreparerConfigErrorCode = {
  /** No configuration file: neither `--config` nor `CONFIG_PATH`, or the file does not exist. */
  CONFIG_MISSING: 'P2_PREPARER_CONFIG_MISSING',
  /** The file is not YAML, has no `preparer:` mapping, or a key holds a value of the wrong kind. */
  CONFIG_INVALID: 'P2_PREPARER_CONFIG_INVALID',
} as const;
/** One of {@link PreparerConfigErrorCode}'s values. */
export type PreparerConfigErrorCode =
  (typeof PreparerConfigErrorCode)[keyof typeof PreparerConfigErrorCode];

/** Errors reading the preparer's configuration (an `@p2/auth` error is chained as `cause`). */
export class PreparerConfigError extends P2Error<PreparerConfigErrorCode> {}
