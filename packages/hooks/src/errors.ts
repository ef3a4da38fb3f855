import { P2Error, type P2ErrorOptions } from '@p2/errors';

/** Stable codes of every error `@p2/hooks` throws. Never renumber or rename one. */
export const HooksErrorCode = {
  /** A hook was run without a variable P2 always sets (`HOOK_EVENT`, `HOOKED_POD_ID`, …). */
  ENV_MISSING: 'P2_HOOKS_ENV_MISSING',
  /** A hook variable has a value P2 never sets (`HOOK_EVENT=deploy`, `HOOKED_POD_READ_ONLY=maybe`). */
  ENV_INVALID: 'P2_HOOKS_ENV_INVALID',
  /** The manifest named by `HOOKED_POD_MANIFEST` cannot be read or parsed. */
  MANIFEST_UNREADABLE: 'P2_HOOKS_MANIFEST_UNREADABLE',
  /** An event name that is not one of P2's hook events. */
  UNKNOWN_EVENT: 'P2_HOOKS_UNKNOWN_EVENT',
  /** A hook listed in `hooks_required` failed, timed out or could not run: the deploy stops. */
  REQUIRED_HOOK_FAILED: 'P2_HOOKS_REQUIRED_HOOK_FAILED',
  /** The hooks directory exists but cannot be listed, or the manifest temp file cannot be written. */
  IO: 'P2_HOOKS_IO',
  /** An option is out of range (negative timeout, …). */
  INVALID_OPTIONS: 'P2_HOOKS_INVALID_OPTIONS',
} as const;

/** One of the {@link HooksErrorCode} values. */
export type HooksErrorCode = (typeof HooksErrorCode)[keyof typeof HooksErrorCode];

/**
 * The one error class of `@p2/hooks`; `code` is one of {@link HooksErrorCode}.
 *
 * @example
 * ```ts
 * try { readHookEnv({}) } catch (e) { if (e instanceof HooksError) e.code } // 'P2_HOOKS_ENV_MISSING'
 * ```
 */
export class HooksError extends P2Error<HooksErrorCode> {
  constructor(code: HooksErrorCode, message: string, options?: P2ErrorOptions) {
    super(code, message, options);
  }
}
