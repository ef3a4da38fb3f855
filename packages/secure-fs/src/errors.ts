import { P2Error } from '@p2/errors';

/** Stable codes of @p2/secure-fs errors. */
export const SecureFsErrorCode = {
  /** A path is not ours alone: wrong owner, writable by others, a link, not a regular file. */
  UNTRUSTED: 'P2_SECURE_FS_UNTRUSTED',
  /** A file is larger than the caller allows. */
  TOO_LARGE: 'P2_SECURE_FS_TOO_LARGE',
  /** The operating system refused (details name the path; the cause is the errno error). */
  IO: 'P2_SECURE_FS_IO',
} as const;
export type SecureFsErrorCode = (typeof SecureFsErrorCode)[keyof typeof SecureFsErrorCode];

/** Errors of root-safe file access; `details.path` names the path, never its content. */
export class SecureFsError extends P2Error<SecureFsErrorCode> {}
