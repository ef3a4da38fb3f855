import { P2Error, type P2ErrorOptions } from '@p2/errors';

/** Stable codes of every error `@p2/ui` throws. Never renumber or rename one. */
export const UiErrorCode = {
  /** `listen` is not `HOST:PORT` (or `PORT`), or the port is out of range. */
  BAD_LISTEN: 'P2_UI_BAD_LISTEN',
  /** A non-loopback address without `allowRemote`: the dashboard has no login. */
  REMOTE_NOT_ALLOWED: 'P2_UI_REMOTE_NOT_ALLOWED',
  /** The HTTP server could not bind its address; `cause` holds the system error. */
  LISTEN_FAILED: 'P2_UI_LISTEN_FAILED',
} as const;

/** One of the {@link UiErrorCode} values. */
export type UiErrorCode = (typeof UiErrorCode)[keyof typeof UiErrorCode];

/** The one error class of `@p2/ui`; `code` is one of {@link UiErrorCode}. */
export class UiError extends P2Error<UiErrorCode> {
  constructor(code: UiErrorCode, message: string, options: P2ErrorOptions = {}) {
    super(code, message, options);
  }
}
