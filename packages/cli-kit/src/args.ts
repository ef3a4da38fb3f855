/** Parsers for command-line values: numbers, durations, `K=V` lists, repeatable options. */
import { parseGoDuration } from '@p2/go';
import { CliExit, ExitCode } from './exit-code.js';

/**
 * A whole number ≥ `min` written in plain digits (surrounding blanks allowed), else `undefined`:
 * for binaries that word their own refusal.
 *
 * @example parseWholeNumber('8500', 1) // 8500
 * @example parseWholeNumber('1e3') // undefined
 */
export function parseWholeNumber(text: string, min = 0): number | undefined {
  const n = Number(text);
  return /^\d+$/.test(text.trim()) && Number.isSafeInteger(n) && n >= min ? n : undefined;
}

/**
 * Parses a whole number ≥ `min` from a flag.
 *
 * @throws CliExit {@link ExitCode.USAGE} naming the flag.
 * @example wholeNumber('3', '--replicas') // 3
 */
export function wholeNumber(value: string, flag: string, min = 0): number {
  const n = parseWholeNumber(value, min);
  if (n === undefined) {
    throw new CliExit(
      ExitCode.USAGE,
      `error: ${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * Parses a Go-style duration (`90s`, `2m`, `1h30m`) or plain milliseconds, to milliseconds.
 *
 * @throws CliExit {@link ExitCode.USAGE} naming the flag.
 * @example durationMs('1m30s', '--timeout') // 90000
 */
export function durationMs(value: string, flag: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const ms = parseGoDuration(value);
  if (ms === undefined || ms < 0) {
    throw new CliExit(
      ExitCode.USAGE,
      `error: ${flag} must be a duration like 90s, 2m or 1h30m, got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;

/**
 * Parses a point in time given as an RFC 3339 time or as a Go-style duration from `now`.
 *
 * @throws CliExit {@link ExitCode.USAGE} naming the flag.
 * @example timeOrDuration('72h', '--expires', now) // now + 72 hours
 * @example timeOrDuration('2026-12-01T00:00:00Z', '--expires') // that time
 */
export function timeOrDuration(value: string, flag: string, now = new Date()): Date {
  const ms = parseGoDuration(value);
  const time =
    ms !== undefined && ms > 0
      ? new Date(now.getTime() + ms)
      : RFC3339.test(value)
        ? new Date(value)
        : undefined;
  if (!time || Number.isNaN(time.getTime())) {
    throw new CliExit(
      ExitCode.USAGE,
      `error: ${flag} must be an RFC 3339 time (2026-12-01T00:00:00Z) or a duration from now (72h), got ${JSON.stringify(value)}`,
    );
  }
  return time;
}

/**
 * Parses `KEY=VALUE` arguments (`what` names them in the error).
 *
 * @throws CliExit {@link ExitCode.USAGE} for an item without `=` or with an empty key.
 * @example parseAssignments(['role=web', 'zone=a=b'], 'a label') // { role: 'web', zone: 'a=b' }
 */
export function parseAssignments(items: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0)
      throw new CliExit(
        ExitCode.USAGE,
        `error: expected ${what} as KEY=VALUE, got ${JSON.stringify(item)}`,
      );
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

/**
 * Commander collector for repeatable options.
 *
 * @example command.option('-e, --env <k=v>', 'repeatable', collect, [])
 */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
