import { P2Error } from '@p2/errors';

/**
 * Stable codes of the host agent's errors. The preparer's and bootstrap's codes keep the names
 * operators and scripts know (`P2_PREPARER_*`, `P2_BOOTSTRAP_*`).
 */
export const HostAgentErrorCode = {
  /** An intent snapshot without `p2-preparer` was ignored as possibly corrupt (logged, not thrown). */
  INTENT_CORRUPT: 'P2_PREPARER_INTENT_CORRUPT',
  /** The preparer's `require_file` does not exist, so it refuses to start. */
  REQUIRE_FILE_MISSING: 'P2_PREPARER_REQUIRE_FILE_MISSING',
  /** The transaction writing a uuid pod's reality and status did not commit. */
  REALITY_ROLLED_BACK: 'P2_PREPARER_REALITY_ROLLED_BACK',
  /**
   * The hook pod of `hooks_manifest` could not be installed (or, for `no_hooks`, removed): the
   * preparer does not start (as P2), the previous executors stay and running pods are untouched.
   */
  HOOK_POD_FAILED: 'P2_PREPARER_HOOK_POD_FAILED',
  /** `p2 start|stop|restart`: the pod has no current manifest on this host. */
  POD_NOT_INSTALLED: 'P2_HOST_POD_NOT_INSTALLED',
  /** `p2 exec` not run as root: it cannot join a cgroup or become the pod's user. */
  EXEC_NOT_ROOT: 'P2_HOST_EXEC_NOT_ROOT',
  /** A new version did not pass its status check in time; the preparer went back to the previous one. */
  REVERTED: 'P2_PREPARER_REVERTED',
  BOOTSTRAP_NOT_ROOT: 'P2_BOOTSTRAP_NOT_ROOT',
  BOOTSTRAP_RUNIT_MISSING: 'P2_BOOTSTRAP_RUNIT_MISSING',
  BOOTSTRAP_STORE_TIMEOUT: 'P2_BOOTSTRAP_STORE_TIMEOUT',
  BOOTSTRAP_PREPARER_TIMEOUT: 'P2_BOOTSTRAP_PREPARER_TIMEOUT',
  BOOTSTRAP_BAD_OPTIONS: 'P2_BOOTSTRAP_BAD_OPTIONS',
} as const;
/** One of {@link HostAgentErrorCode}'s values. */
export type HostAgentErrorCode = (typeof HostAgentErrorCode)[keyof typeof HostAgentErrorCode];

/** Errors raised by the host agent itself (package errors keep their own codes, chained as `cause`). */
export class HostAgentError extends P2Error<HostAgentErrorCode> {}
