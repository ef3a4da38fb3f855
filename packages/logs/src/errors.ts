import { P2Error, type P2ErrorOptions } from '@p2/errors';

/** Stable codes of every error `@p2/logs` throws. Never renumber or rename one. */
export const LogsErrorCode = {
  /** An option is out of range or malformed (details: `option`). */
  INVALID_OPTIONS: 'P2_LOGS_INVALID_OPTIONS',
  /** A socket destination lies where someone other than root could put another socket (details: `path`, `dir`). */
  UNTRUSTED_SOCKET: 'P2_LOGS_UNTRUSTED_SOCKET',
} as const;

/** One of the {@link LogsErrorCode} values. */
export type LogsErrorCode = (typeof LogsErrorCode)[keyof typeof LogsErrorCode];

/** The one error class of `@p2/logs`; `code` is one of {@link LogsErrorCode}. */
export class LogsError extends P2Error<LogsErrorCode> {
  constructor(code: LogsErrorCode, message: string, options: P2ErrorOptions = {}) {
    super(code, message, options);
  }
}
