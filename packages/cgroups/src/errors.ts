import { P2Error } from '@p2/errors';

/** Stable codes of {@link CgroupsError}. */
export const CgroupsErrorCodes = {
  /** No usable cgroup hierarchy (neither v1 cpu/memory nor a cgroup2 mount) was found. */
  UNSUPPORTED: 'P2_CGROUPS_UNSUPPORTED',
  /** `/proc/self/mountinfo` could not be read or parsed. */
  MOUNTINFO: 'P2_CGROUPS_MOUNTINFO',
  /** A cgroup name or path segment is not acceptable (empty, `..`, `/`, control-file lookalike). */
  INVALID_NAME: 'P2_CGROUPS_INVALID_NAME',
  /** The configured parent cgroup does not exist. */
  PARENT_MISSING: 'P2_CGROUPS_PARENT_MISSING',
  /** The cgroup does not exist. */
  NOT_FOUND: 'P2_CGROUPS_NOT_FOUND',
  /** A limit value is not acceptable (negative cpus, unparseable memory size). */
  INVALID_LIMIT: 'P2_CGROUPS_INVALID_LIMIT',
  /** Writing a cgroup file failed (permission, kernel refused the value). */
  WRITE_FAILED: 'P2_CGROUPS_WRITE_FAILED',
  /** Reading a cgroup file failed. */
  READ_FAILED: 'P2_CGROUPS_READ_FAILED',
  /** The cgroup still has processes (remove without `kill`, or they did not die in time). */
  BUSY: 'P2_CGROUPS_BUSY',
} as const;

/** One of {@link CgroupsErrorCodes}. */
export type CgroupsErrorCode = (typeof CgroupsErrorCodes)[keyof typeof CgroupsErrorCodes];

/** The error class of `@p2/cgroups`; match on `code`. */
export class CgroupsError extends P2Error<CgroupsErrorCode> {}
