import { P2Error } from '@p2/errors';

/** Stable codes of {@link RuncError}. */
export const RuncErrorCodes = {
  /** The bundle's `config.json` is not an OCI runtime spec p2 can read (not an object, no args, …). */
  INVALID_BUNDLE: 'P2_RUNC_INVALID_BUNDLE',
  /** The bundle asks for more than a pod may have; `details.field` is the JSON path of the field. */
  BUNDLE_REFUSED: 'P2_RUNC_BUNDLE_REFUSED',
  /** A container id or a runtime input (uid, path) that p2 will not hand runc. */
  INVALID_INPUT: 'P2_RUNC_INVALID_INPUT',
  /** `runc` could not be run or exited non-zero. */
  COMMAND_FAILED: 'P2_RUNC_COMMAND_FAILED',
} as const;

/** One of {@link RuncErrorCodes}. */
export type RuncErrorCode = (typeof RuncErrorCodes)[keyof typeof RuncErrorCodes];

/** The error class of `@p2/runc`; match on `code`. */
export class RuncError extends P2Error<RuncErrorCode> {}
