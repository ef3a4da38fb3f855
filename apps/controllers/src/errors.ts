import { P2Error } from '@p2/errors';

/** Stable codes of p2-controllers' own errors. */
export const ControllersErrorCode = {
  /** A command-line option or environment variable is missing or malformed. */
  INVALID_ARGUMENT: 'P2_CONTROLLERS_INVALID_ARGUMENT',
} as const;
export type ControllersErrorCode = (typeof ControllersErrorCode)[keyof typeof ControllersErrorCode];

/** Errors raised by p2-controllers itself (errors of `@p2/rc` keep their codes and are chained as `cause`). */
export class ControllersError extends P2Error<ControllersErrorCode> {}
