import { UsersError, UsersErrorCodes } from './errors.js';

/** Longest user or group name Linux tools handle everywhere (utmp, `ps`). */
export const MAX_NAME_LENGTH = 32;

/** Debian's default `NAME_REGEX` for `useradd`/`adduser`, without the Samba-style trailing `$`. */
const NAME_PATTERN = /^[a-z_][a-z0-9_-]*$/;

/**
 * Why `name` cannot be a Unix user or group name, or `undefined` when it can.
 *
 * @example userNameProblem('hello') // undefined
 * @example userNameProblem('Hello') // 'must start with a lowercase letter or "_" …'
 */
export function userNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_NAME_LENGTH)
    return `is ${name.length} characters long; at most ${MAX_NAME_LENGTH} are allowed`;
  if (/^[0-9]+$/.test(name)) return 'is all digits and would be read as a uid';
  if (!NAME_PATTERN.test(name))
    return 'must start with a lowercase letter or "_" and contain only lowercase letters, digits, "_" and "-"';
  return undefined;
}

/**
 * Throws unless `name` is a valid Unix user/group name (Debian `useradd` rules, at most 32 chars).
 *
 * @param what - what the name is, for the message (e.g. `pod id "Hello"` → `run_as user`).
 * @throws {UsersError} `P2_USERS_INVALID_NAME`
 * @example assertValidUserName('hello'); // ok
 */
export function assertValidUserName(name: string, what = 'user name'): void {
  const problem = userNameProblem(name);
  if (problem === undefined) return;
  throw new UsersError(UsersErrorCodes.INVALID_NAME, `${what} ${JSON.stringify(name)} ${problem}`, {
    hint: 'pods run as a user named after the pod id unless the manifest sets run_as; set run_as to a valid user name or rename the pod',
    details: { name },
  });
}
