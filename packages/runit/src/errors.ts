import { P2Error } from '@p2/errors';

/** Stable codes of {@link RunitError}. */
export const RunitErrorCodes = {
  /** A service, pod, launchable or entry name that cannot be a directory name. */
  INVALID_NAME: 'P2_RUNIT_INVALID_NAME',
  /** A service spec that cannot work (relative paths, bad log sizes, bad user name …). */
  INVALID_SPEC: 'P2_RUNIT_INVALID_SPEC',
  /** The entry point to run does not exist or is not executable. */
  ENTRY_POINT_MISSING: 'P2_RUNIT_ENTRY_POINT_MISSING',
  /** The service directory does not exist. */
  NOT_FOUND: 'P2_RUNIT_NOT_FOUND',
  /** No runsv supervises the service (P2: "runsv not running"). */
  NOT_SUPERVISED: 'P2_RUNIT_NOT_SUPERVISED',
  /** The service did not reach the wanted state in time. */
  TIMEOUT: 'P2_RUNIT_TIMEOUT',
  /** Writing or removing service files failed. */
  WRITE_FAILED: 'P2_RUNIT_WRITE_FAILED',
  /** `supervise/status` is not in runsv's 20-byte format. */
  BAD_STATUS: 'P2_RUNIT_BAD_STATUS',
  /** runsvdir could not be started or stopped. */
  RUNSVDIR_FAILED: 'P2_RUNIT_RUNSVDIR_FAILED',
  /** A service's log cannot be read by this user (logs are root's to read). */
  LOG_PERMISSION_DENIED: 'P2_RUNIT_LOG_PERMISSION_DENIED',
  /** A service's log file could not be opened. */
  LOG_UNREADABLE: 'P2_RUNIT_LOG_UNREADABLE',
} as const;

/** One of {@link RunitErrorCodes}. */
export type RunitErrorCode = (typeof RunitErrorCodes)[keyof typeof RunitErrorCodes];

/** The error class of `@p2/runit`; match on `code`. */
export class RunitError extends P2Error<RunitErrorCode> {}
