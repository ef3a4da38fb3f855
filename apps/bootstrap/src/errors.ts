import { P2Error } from '@p2/errors';

/** Stable codes of p2-bootstrap's own errors (the rest are @p2/host-agent's `P2_BOOTSTRAP_*`). */
export const BootstrapErrorCode = {
  BUNDLE_MISSING: 'P2_BOOTSTRAP_BUNDLE_MISSING',
} as const;
export type BootstrapErrorCode = (typeof BootstrapErrorCode)[keyof typeof BootstrapErrorCode];

export class BootstrapError extends P2Error<BootstrapErrorCode> {}
