/** Exit codes scripts can rely on, and which errors end in which. */
import { P2Error } from '@p2/errors';

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
  /** A wait (`--wait --timeout`) ran out of time before the goal was reached. */
  TIMEOUT: 6,
} as const;
/** One of {@link ExitCode}'s values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Which {@link P2Error} codes end in which exit code: keys are whole codes, or prefixes ending in
 * `_` that stand for a family (`P2_MANIFEST_`). A whole code wins over a prefix, a longer prefix over
 * a shorter one; a code not listed is {@link ExitCode.FAILURE}.
 */
export type ExitCodeTable = Readonly<Record<string, ExitCode>>;

/** The store refused the token, or the token file is not safe: every binary that opens the store. */
export const STORE_ACCESS_EXIT_CODES: ExitCodeTable = {
  P2_KV_PERMISSION_DENIED: ExitCode.DENIED,
  P2_KV_TOKEN_FILE_UNSAFE: ExitCode.DENIED,
};

/** `p2`'s table: invalid input vs. an operation that failed, for every error family it meets. */
export const P2_EXIT_CODES: ExitCodeTable = {
  ...STORE_ACCESS_EXIT_CODES,
  P2_MANIFEST_: ExitCode.INVALID_INPUT,
  P2_LABELS_: ExitCode.INVALID_INPUT,
  P2_LABELS_STORE: ExitCode.FAILURE,
  P2_LABELS_CAS_CONFLICT: ExitCode.FAILURE,
  P2_AUTH_: ExitCode.INVALID_INPUT,
  P2_RC_NOT_FOUND: ExitCode.NOT_FOUND,
  P2_HOST_POD_NOT_INSTALLED: ExitCode.NOT_FOUND,
  P2_PODS_NOT_INSTALLED: ExitCode.NOT_FOUND,
  P2_PODS_NO_SUCH_LAUNCHABLE: ExitCode.NOT_FOUND,
  P2_RC_INVALID_REQUEST: ExitCode.INVALID_INPUT,
  P2_RC_HAS_REPLICAS: ExitCode.INVALID_INPUT,
  P2_RC_ROLL_CONFLICT: ExitCode.INVALID_INPUT,
  P2_KV_INVALID_KEY: ExitCode.INVALID_INPUT,
  P2_KV_NOT_FOUND: ExitCode.NOT_FOUND,
  P2_KV_ALREADY_EXISTS: ExitCode.INVALID_INPUT,
  P2_KV_VALUE_TOO_LARGE: ExitCode.INVALID_INPUT,
  P2_KV_UNSUPPORTED_BACKEND: ExitCode.USAGE,
  P2_KV_BAD_OPTIONS: ExitCode.USAGE,
};

/**
 * The exit code for an error that ended a command: a {@link CliExit}'s own, a {@link P2Error}'s from
 * `table`, {@link ExitCode.FAILURE} for anything else.
 *
 * @default table {@link P2_EXIT_CODES}
 * @example exitCodeFor(new ManifestError('P2_MANIFEST_INVALID', '…')) // 3
 */
export function exitCodeFor(error: unknown, table: ExitCodeTable = P2_EXIT_CODES): ExitCode {
  if (error instanceof CliExit) return error.exitCode;
  if (!(error instanceof P2Error)) return ExitCode.FAILURE;
  const code = error.code;
  const exact = table[code];
  if (exact !== undefined) return exact;
  const family = Object.keys(table)
    .filter((key) => key.endsWith('_') && code.startsWith(key))
    .sort((a, b) => b.length - a.length)[0];
  return family === undefined ? ExitCode.FAILURE : (table[family] as ExitCode);
}

/**
 * Thrown to end a command with a given exit code; its message (if any) is printed as it is, so it
 * starts with `error: ` and may end with a `hint: ` line.
 *
 * @example throw new CliExit(ExitCode.NOT_FOUND, 'error: no such file: pod.yaml')
 */
export class CliExit extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message = '',
  ) {
    super(message);
    this.name = 'CliExit';
  }
}
