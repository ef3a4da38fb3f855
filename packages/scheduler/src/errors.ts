import { P2Error, type P2ErrorOptions } from '@p2/errors';

/** Stable codes of every error `@p2/scheduler` throws. Never renumber or rename one. */
export const SchedulerErrorCode = {
  /** The store failed while reading what nodes already run; `cause` holds the store's error. */
  STORE: 'P2_SCHEDULER_STORE',
} as const;

/** One of the {@link SchedulerErrorCode} values. */
export type SchedulerErrorCode = (typeof SchedulerErrorCode)[keyof typeof SchedulerErrorCode];

/** The one error class of `@p2/scheduler`; `code` is one of {@link SchedulerErrorCode}. */
export class SchedulerError extends P2Error<SchedulerErrorCode> {
  constructor(code: SchedulerErrorCode, message: string, options: P2ErrorOptions = {}) {
    super(code, message, options);
  }
}
