import { P2Error, type P2ErrorOptions } from '@p2/errors';

/**
 * Stable codes of every error the controller packages (`@p2/rc`, `@p2/roll`, `@p2/daemon-set`,
 * `@p2/replicate`, this kit) throw. Never renumber or rename one: `p2` maps several to exit codes.
 */
export const RcErrorCode = {
  /** A stored controller record (RC, rolling update, daemon set) cannot be read. */
  INVALID_RECORD: 'P2_RC_INVALID_RECORD',
  /** A request to create or change a controller is invalid (bad counts, pod id mismatch…). */
  INVALID_REQUEST: 'P2_RC_INVALID_REQUEST',
  /** The controller record does not exist. */
  NOT_FOUND: 'P2_RC_NOT_FOUND',
  /** A read-modify-CAS kept losing to concurrent writers, or an expected count differed. */
  CONFLICT: 'P2_RC_CONFLICT',
  /** Deleting an RC that still wants replicas without `force`. */
  HAS_REPLICAS: 'P2_RC_HAS_REPLICAS',
  /** Not enough eligible nodes (or capacity) to place every desired replica. */
  NOT_ENOUGH_NODES: 'P2_RC_NOT_ENOUGH_NODES',
  /** A transaction was rolled back (a CAS or lock check failed inside it). */
  TXN_ROLLED_BACK: 'P2_RC_TXN_ROLLED_BACK',
  /** A lock another actor holds (RC mutation lock, roll lock…). */
  LOCKED: 'P2_RC_LOCKED',
  /** A rolling update already references one of the RCs. */
  ROLL_CONFLICT: 'P2_RC_ROLL_CONFLICT',
  /** A replicated node did not become healthy within its timeout (`@p2/replicate`). */
  NOT_HEALTHY: 'P2_RC_NOT_HEALTHY',
  /** A node did not pre-stage a manifest: its preparer refused or failed, or did not answer in time. */
  NOT_STAGED: 'P2_RC_NOT_STAGED',
  /** The store failed; `cause` holds the store's error. */
  STORE: 'P2_RC_STORE',
} as const;

/** One of the {@link RcErrorCode} values. */
export type RcErrorCode = (typeof RcErrorCode)[keyof typeof RcErrorCode];

/** The one error class of the controller packages; `code` is one of {@link RcErrorCode}. */
export class RcError extends P2Error<RcErrorCode> {
  constructor(code: RcErrorCode, message: string, options: P2ErrorOptions = {}) {
    super(code, message, options);
  }
}
