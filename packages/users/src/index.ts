/**
 * Unix users, groups and homes for pods: create idempotently, look up, validate names.
 *
 * @example
 * ```ts
 * import { ensureUser } from '@p2/users';
 * const { user, created } = await ensureUser({ name: 'hello', home: '/data/pods/hello' });
 * ```
 */
export { UsersError, type UsersErrorCode, UsersErrorCodes } from './errors.js';
export { assertValidUserName, MAX_NAME_LENGTH, userNameProblem } from './names.js';
export {
  DEFAULT_ID_RANGE,
  type EnsuredUser,
  type EnsureUserOptions,
  ensureUser,
  findGroup,
  findUser,
  type IdRange,
  lookupUser,
  removeUser,
  type UnixGroup,
  type UnixUser,
  type UsersLogger,
  userGroupIds,
} from './users.js';
