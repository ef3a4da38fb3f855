import { P2Error } from '@p2/errors';

/** Stable codes of p2-bootstrap's errors. */
export const BootstrapErrorCode = {
  NOT_ROOT: 'P2_BOOTSTRAP_NOT_ROOT',
  RUNIT_MISSING: 'P2_BOOTSTRAP_RUNIT_MISSING',
  BUNDLE_MISSING: 'P2_BOOTSTRAP_BUNDLE_MISSING',
  STORE_TIMEOUT: 'P2_BOOTSTRAP_STORE_TIMEOUT',
  PREPARER_TIMEOUT: 'P2_BOOTSTRAP_PREPARER_TIMEOUT',
  BAD_OPTIONS: 'P2_BOOTSTRAP_BAD_OPTIONS',
} as const;
export type BootstrapErrorCode = (typeof BootstrapErrorCode)[keyof typeof BootstrapErrorCode];

export class BootstrapError extends P2Error<BootstrapErrorCode> {}
