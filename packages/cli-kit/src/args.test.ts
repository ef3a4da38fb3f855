import { describe, expect, it } from 'vitest';
import {
  collect,
  durationMs,
  parseAssignments,
  parseWholeNumber,
  timeOrDuration,
  wholeNumber,
} from './args.js';
import { CliExit, ExitCode } from './exit-code.js';

const usage = (fn: () => unknown, message: string) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CliExit);
    expect(error).toMatchObject({ exitCode: ExitCode.USAGE, message });
    return;
  }
  throw new Error('expected a CliExit');
};

describe('argument parsers', () => {
  it('whole numbers: plain digits only, at least min', () => {
    expect(parseWholeNumber('8500', 1)).toBe(8500);
    expect(parseWholeNumber(' 7 ')).toBe(7);
    for (const bad of ['1e3', '0x10', '1.0', '-1', '', 'ten'])
      expect(parseWholeNumber(bad)).toBe(undefined);
    expect(parseWholeNumber('0', 1)).toBe(undefined);
    expect(wholeNumber('3', '--replicas')).toBe(3);
    usage(
      () => wholeNumber('x', '--replicas', 1),
      'error: --replicas must be a whole number ≥ 1, got "x"',
    );
  });

  it('durations: Go-style or plain milliseconds', () => {
    expect(durationMs('1m30s', '--timeout')).toBe(90_000);
    expect(durationMs('250', '--timeout')).toBe(250);
    usage(
      () => durationMs('soon', '--timeout'),
      'error: --timeout must be a duration like 90s, 2m or 1h30m, got "soon"',
    );
  });

  it('times: RFC 3339, or a duration from now', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(timeOrDuration('72h', '--expires', now).toISOString()).toBe('2026-01-04T00:00:00.000Z');
    expect(timeOrDuration('2026-12-01T00:00:00Z', '--expires', now).toISOString()).toBe(
      '2026-12-01T00:00:00.000Z',
    );
    usage(
      () => timeOrDuration('tomorrow', '--expires', now),
      'error: --expires must be an RFC 3339 time (2026-12-01T00:00:00Z) or a duration from now (72h), got "tomorrow"',
    );
  });

  it('KEY=VALUE lists and repeatable options', () => {
    expect(parseAssignments(['role=web', 'zone=a=b', 'empty='], 'a label')).toEqual({
      role: 'web',
      zone: 'a=b',
      empty: '',
    });
    usage(
      () => parseAssignments(['=x'], 'a label'),
      'error: expected a label as KEY=VALUE, got "=x"',
    );
    expect(collect('b', collect('a'))).toEqual(['a', 'b']);
  });
});
