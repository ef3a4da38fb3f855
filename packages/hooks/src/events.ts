import { HooksError, HooksErrorCode } from './errors.js';

/**
 * P2's hook events, in the order a deploy meets them (spec 02 §6.1):
 *
 * | event | fired | manifest given | a required hook failing |
 * |---|---|---|---|
 * | `preparer_init` | preparer startup | the preparer's | stops startup |
 * | `before_install` | before download/extract | intent | stops the deploy (retried) |
 * | `after_install` | after install + verify, before the old version halts | intent | stops the deploy (retried) |
 * | `before_launch` | after the old version halted | intent | stops the deploy (retried) |
 * | `after_launch` | after reality was written | intent | reported |
 * | `before_uninstall` | after a forced halt, before files are removed | reality | ignored |
 * | `after_auth_fail` | a manifest failed authorization or digest verification | intent | ignored |
 */
export const HookEvents = [
  'preparer_init',
  'before_install',
  'after_install',
  'before_launch',
  'after_launch',
  'before_uninstall',
  'after_auth_fail',
] as const;

/** One of P2's hook events. */
export type HookEvent = (typeof HookEvents)[number];

/** True when `value` is one of {@link HookEvents}. */
export function isHookEvent(value: unknown): value is HookEvent {
  return typeof value === 'string' && (HookEvents as readonly string[]).includes(value);
}

/**
 * Checks an event name.
 *
 * @throws {HooksError} `P2_HOOKS_UNKNOWN_EVENT` naming the valid events.
 * @example parseHookEvent('after_install') // 'after_install'
 */
export function parseHookEvent(value: string): HookEvent {
  if (isHookEvent(value)) return value;
  throw new HooksError(
    HooksErrorCode.UNKNOWN_EVENT,
    `unknown hook event ${JSON.stringify(value)}; expected one of ${HookEvents.join(', ')}`,
    { details: { found: value } },
  );
}
