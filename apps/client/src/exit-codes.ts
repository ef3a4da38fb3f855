/** Exit codes scripts can rely on. Never renumber one. */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** An operation failed (store unreachable, deploy failed, …). */
  FAILURE: 1,
  /** The command line was wrong (unknown flag, missing argument). */
  USAGE: 2,
  /** The input was read but is invalid (bad manifest, bad signature, bad selector). */
  INVALID_INPUT: 3,
  /** Something asked for does not exist (no such pod, key or file). */
  NOT_FOUND: 4,
  /** The store refused access (no valid ACL token), or the token file is not safe to use. */
  DENIED: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
