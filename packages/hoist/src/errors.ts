import { P2Error, type P2ErrorOptions } from '@p2/errors';

/**
 * Every error code `@p2/hoist` throws. Codes are stable across releases: match on them, not on
 * messages.
 */
export const HoistErrorCodes = {
  /** The location is not a URL or path hoist can fetch (unknown scheme, relative `file:` path…). */
  LOCATION_INVALID: 'P2_HOIST_LOCATION_INVALID',
  /**
   * A local (`file:` or plain-path) location is not allowed: outside the allowed directories
   * (`localRoots`), a symlink out of them, not a regular file (FIFO, device, directory, socket), or
   * — when running as root — a file or directory another user owns or may write.
   */
  LOCAL_LOCATION_REFUSED: 'P2_HOIST_LOCAL_LOCATION_REFUSED',
  /** The artifact does not exist (HTTP 404/410, or no such local file). */
  ARTIFACT_NOT_FOUND: 'P2_HOIST_ARTIFACT_NOT_FOUND',
  /** The server answered with a status that is neither success nor retryable (401, 403, 400…). */
  FETCH_HTTP_STATUS: 'P2_HOIST_FETCH_HTTP_STATUS',
  /** Network or TLS failure, or a retryable status, still failing after every retry. */
  FETCH_FAILED: 'P2_HOIST_FETCH_FAILED',
  /**
   * The server redirected to a URL hoist does not follow: another scheme than http(s) (`file:`…),
   * or from `https:` down to plain `http:`.
   */
  FETCH_REDIRECT_REFUSED: 'P2_HOIST_FETCH_REDIRECT_REFUSED',
  /** The download passed `maxBytes` (or a digest or signature passed `maxDocumentBytes`). */
  FETCH_TOO_LARGE: 'P2_HOIST_FETCH_TOO_LARGE',
  /** The operation was aborted through its `AbortSignal`. */
  ABORTED: 'P2_HOIST_ABORTED',
  /** The artifact's SHA-256 differs from the expected one. Nothing was extracted. */
  DIGEST_MISMATCH: 'P2_HOIST_DIGEST_MISMATCH',
  /** The artifact verifier (signature policy) refused the artifact. Nothing was extracted. */
  VERIFICATION_FAILED: 'P2_HOIST_VERIFICATION_FAILED',
  /** Neither a gzip stream nor a tar archive. */
  ARCHIVE_UNRECOGNIZED: 'P2_HOIST_ARCHIVE_UNRECOGNIZED',
  /** The gzip stream or a tar header is damaged. */
  ARCHIVE_CORRUPT: 'P2_HOIST_ARCHIVE_CORRUPT',
  /** The gzip stream or the tar archive ends early. */
  ARCHIVE_TRUNCATED: 'P2_HOIST_ARCHIVE_TRUNCATED',
  /** An entry name is absolute or contains `..`. */
  ARCHIVE_PATH_ESCAPE: 'P2_HOIST_ARCHIVE_PATH_ESCAPE',
  /** A symlink or hard link points outside the archive, or an entry would be written through a symlink. */
  ARCHIVE_LINK_ESCAPE: 'P2_HOIST_ARCHIVE_LINK_ESCAPE',
  /** A device node, FIFO or entry type hoist does not install (sparse, multi-volume…). */
  ARCHIVE_SPECIAL_FILE: 'P2_HOIST_ARCHIVE_SPECIAL_FILE',
  /** Two entries disagree about what a path is (a file where a directory is needed…). */
  ARCHIVE_CONFLICT: 'P2_HOIST_ARCHIVE_CONFLICT',
  /** More entries than `limits.maxEntries`. */
  ARCHIVE_TOO_MANY_ENTRIES: 'P2_HOIST_ARCHIVE_TOO_MANY_ENTRIES',
  /** The sum of entry sizes (or the decompressed stream) passes `limits.maxTotalBytes`. */
  ARCHIVE_TOO_LARGE: 'P2_HOIST_ARCHIVE_TOO_LARGE',
  /** One entry is larger than `limits.maxFileBytes`. */
  ARCHIVE_FILE_TOO_LARGE: 'P2_HOIST_ARCHIVE_FILE_TOO_LARGE',
  /** A launchable id or version cannot name an install directory (empty, `/`, `.`, `..`). */
  NAME_INVALID: 'P2_HOIST_NAME_INVALID',
  /** A file-system operation failed (no space, permission denied…). */
  IO: 'P2_HOIST_IO',
  /** An explicit entry point from the manifest does not exist in the install. */
  ENTRY_POINT_MISSING: 'P2_HOIST_ENTRY_POINT_MISSING',
  /** An entry point is absolute or leaves the install directory. */
  ENTRY_POINT_INVALID: 'P2_HOIST_ENTRY_POINT_INVALID',
  /** Two entry points map to the same runit service name. */
  ENTRY_POINT_CLASH: 'P2_HOIST_ENTRY_POINT_CLASH',
  /** `bin2pod`: the executable is not a regular file, or the manifest it would write is invalid. */
  BIN2POD_INVALID: 'P2_HOIST_BIN2POD_INVALID',
  /** A `digest_location` file is not in sha256sum format. */
  DIGEST_FILE_INVALID: 'P2_HOIST_DIGEST_FILE_INVALID',
  /** The installed tree does not match its `digest_location` file. */
  TREE_DIGEST_MISMATCH: 'P2_HOIST_TREE_DIGEST_MISMATCH',
  /**
   * A `version:` launchable needs an artifact registry and none is set (neither the manifest's
   * `artifact_registry` nor the host's `artifact_registry_url`).
   */
  REGISTRY_MISSING: 'P2_HOIST_REGISTRY_MISSING',
  /**
   * The registry query cannot be made: the registry URL is not http(s), or a `version.tags` name
   * collides with a parameter p2 sets itself (`artifact_name`, `os`, `os_version`, `version`).
   */
  REGISTRY_QUERY_INVALID: 'P2_HOIST_REGISTRY_QUERY_INVALID',
  /** The registry does not know the artifact (HTTP 404/410 from `/discover/<pod>`). */
  REGISTRY_NOT_FOUND: 'P2_HOIST_REGISTRY_NOT_FOUND',
  /** The registry cannot be reached, or answered an error status, after every retry. */
  REGISTRY_UNAVAILABLE: 'P2_HOIST_REGISTRY_UNAVAILABLE',
  /**
   * The registry's answer is refused: not a JSON object, too large, no `location`, a field of the
   * wrong type, a location that is not an http(s):// or file:// URL, or a refused redirect.
   */
  REGISTRY_RESPONSE_INVALID: 'P2_HOIST_REGISTRY_RESPONSE_INVALID',
  /**
   * The OS release file (`os_version_file`) is missing, unreadable, not root's alone, or in no
   * format hoist knows (`CentOS … release <version> (…)`, or os-release `ID=`/`VERSION_ID=`).
   */
  OS_RELEASE_INVALID: 'P2_HOIST_OS_RELEASE_INVALID',
} as const;

/** One of {@link HoistErrorCodes}. */
export type HoistErrorCode = (typeof HoistErrorCodes)[keyof typeof HoistErrorCodes];

/**
 * The one error class of `@p2/hoist`. `code` is one of {@link HoistErrorCodes}; `details` carries
 * what an operator or a program needs (expected and actual digests, the entry name, the limit).
 * Messages never contain credentials.
 *
 * @example
 * ```ts
 * try { await installArtifact(options); }
 * catch (error) { if (isP2Error(error, HoistErrorCodes.DIGEST_MISMATCH)) alert(error.details); }
 * ```
 */
export class HoistError extends P2Error<HoistErrorCode> {
  constructor(code: HoistErrorCode, message: string, options: P2ErrorOptions = {}) {
    super(code, message, options);
  }
}

/** @internal True for a Node.js system error with the given `code` (ENOENT, EEXIST…). */
export function hasErrno(error: unknown, ...codes: string[]): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    codes.includes(String((error as { code: unknown }).code))
  );
}
