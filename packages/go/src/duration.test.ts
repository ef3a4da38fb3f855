import { describe, expect, it } from 'vitest';
import { formatGoDuration, parseGoDuration, parseGoDurationNs } from './index.js';

describe('Go durations', () => {
  it.each([
    ['0', 0],
    ['-0', 0],
    ['300ms', 300],
    ['1m30s', 90_000],
    ['1h2m3.5s', 3_723_500],
    ['-1.5h', -5_400_000],
    ['.5s', 500],
    ['1.s', 1000],
    ['100us', 0.1],
    ['100µs', 0.1],
    ['2h45m', 9_900_000],
  ])('%s is %d ms, as Go parses it', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it.each(['', '1', 's', ' 5s', '5s ', '5 s', '1d', '--1s', '1.2.3s', 'NaNs'])(
    '%j is refused, as Go refuses it',
    (text) => {
      expect(parseGoDuration(text)).toBeUndefined();
    },
  );

  it('gives nanoseconds exactly for Consul (wait, ttl, lock-delay)', () => {
    expect(parseGoDurationNs('1ns')).toBe(1);
    expect(parseGoDurationNs('15s')).toBe(15e9);
    expect(parseGoDurationNs('100000ms')).toBe(1e11);
  });

  it('formats like Go’s Duration.String() for whole values', () => {
    expect(formatGoDuration(0)).toBe('0s');
    expect(formatGoDuration(15e9)).toBe('15s');
    expect(formatGoDuration(60e9)).toBe('1m0s');
    expect(formatGoDuration(90e9)).toBe('1m30s');
    expect(formatGoDuration(1e6)).toBe('1ms');
    expect(formatGoDuration(3723e9)).toBe('1h2m3s');
  });
});
