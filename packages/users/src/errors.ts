import { P2Error } from '@p2/errors';

/** Stable codes of {@link UsersError}. */
export const UsersErrorCodes = {
  /** A user or group name that `useradd` would refuse (or that could be mistaken for a uid). */
  INVALID_NAME: 'P2_USERS_INVALID_NAME',
  /** The user or group does not exist. */
  NOT_FOUND: 'P2_USERS_NOT_FOUND',
  /** `useradd`/`groupadd` failed or is not installed. */
  CREATE_FAILED: 'P2_USERS_CREATE_FAILED',
  /** The configured uid/gid range is invalid or has no free id left. */
  RANGE: 'P2_USERS_RANGE',
  /** The user exists but does not match what was asked (home, primary group). */
  MISMATCH: 'P2_USERS_MISMATCH',
  /** Reading the user database failed. */
  LOOKUP_FAILED: 'P2_USERS_LOOKUP_FAILED',
  /** The lock shared by every process changing users (`/run/p2/users.lock`) could not be taken. */
  LOCK_FAILED: 'P2_USERS_LOCK_FAILED',
} as const;

/** One of {@link UsersErrorCodes}. */
export type UsersErrorCode = (typeof UsersErrorCodes)[keyof typeof UsersErrorCodes];

/** The error class of `@p2/users`; match on `code`. */
export class UsersError extends P2Error<UsersErrorCode> {}
