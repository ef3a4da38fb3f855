import { P2Error, type P2ErrorOptions } from '@p2/errors';

/** Stable codes of every error `@p2/labels` throws. Never renumber or rename one. */
export const LabelsErrorCode = {
  /** A selector string does not follow the grammar (details: `position`, `expected`, `found`). */
  SELECTOR_SYNTAX: 'P2_LABELS_SELECTOR_SYNTAX',
  /** A label key is not a qualified name (`[prefix/]name`, name 1–63 chars of `[A-Za-z0-9._-]`). */
  INVALID_KEY: 'P2_LABELS_INVALID_KEY',
  /** A label value is longer than 63 chars or uses characters outside `[A-Za-z0-9._-]`. */
  INVALID_VALUE: 'P2_LABELS_INVALID_VALUE',
  /** A requirement was built with the wrong number of values for its operator. */
  INVALID_REQUIREMENT: 'P2_LABELS_INVALID_REQUIREMENT',
  /** A label type other than pod, node, pod_clusters, replication_controller, rolls. */
  INVALID_TYPE: 'P2_LABELS_INVALID_TYPE',
  /** A key under `labels/` that is not `labels/<type>/<id>`, or an empty id. */
  INVALID_KEY_PATH: 'P2_LABELS_INVALID_KEY_PATH',
  /** A stored label record is not a JSON object of strings. */
  INVALID_RECORD: 'P2_LABELS_INVALID_RECORD',
  /** A read-modify-CAS of a label record kept losing to concurrent writers. */
  CAS_CONFLICT: 'P2_LABELS_CAS_CONFLICT',
  /** The store failed (transport error, rolled-back transaction…); `cause` holds the store's error. */
  STORE: 'P2_LABELS_STORE',
} as const;

/** One of the {@link LabelsErrorCode} values. */
export type LabelsErrorCode = (typeof LabelsErrorCode)[keyof typeof LabelsErrorCode];

/** Structured data carried by a {@link LabelsError}. */
export interface LabelsErrorDetails extends Record<string, unknown> {
  /** The selector text being parsed. */
  selector?: string;
  /** 0-based character offset in `selector` where the problem starts. */
  position?: number;
  /** What the parser expected there, in words. */
  expected?: string;
  /** What it found (`end of string` at the end). */
  found?: string;
  /** The offending label key or store key. */
  key?: string;
  /** The offending label value. */
  value?: string;
}

/** The one error class of `@p2/labels`; `code` is one of {@link LabelsErrorCode}. */
export class LabelsError extends P2Error<LabelsErrorCode> {
  declare readonly details: LabelsErrorDetails;

  constructor(
    code: LabelsErrorCode,
    message: string,
    options: P2ErrorOptions & { details?: LabelsErrorDetails } = {},
  ) {
    super(code, message, options);
  }
}
