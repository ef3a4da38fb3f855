import { describe, expect, it } from 'vitest';
import { describeError, isP2Error, P2Error, redactCredentials } from './index.js';

const Codes = { BROKEN: 'P2_TEST_BROKEN' } as const;
class TestError extends P2Error<(typeof Codes)[keyof typeof Codes]> {}

describe('P2Error', () => {
  it('carries a stable code, a name, a hint and a cause', () => {
    const cause = new Error('socket hang up');
    const error = new TestError(Codes.BROKEN, 'it broke', {
      hint: 'fix it',
      cause,
      details: { a: 1 },
    });
    expect(error).toBeInstanceOf(P2Error);
    expect(error.name).toBe('TestError');
    expect(error.code).toBe('P2_TEST_BROKEN');
    expect(error.hint).toBe('fix it');
    expect(error.cause).toBe(cause);
    expect(isP2Error(error, 'P2_TEST_BROKEN')).toBe(true);
    expect(isP2Error(error, 'P2_OTHER')).toBe(false);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'TestError',
      code: 'P2_TEST_BROKEN',
      message: 'it broke',
      hint: 'fix it',
      details: { a: 1 },
    });
  });

  it('redacts credentials from its message', () => {
    const error = new TestError(
      Codes.BROKEN,
      'GET https://bob:hunter2@artifacts.local/a.tar.gz failed',
    );
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain('https://***@artifacts.local/a.tar.gz');
  });
});

describe('redactCredentials', () => {
  it.each([
    ['https://bob:pw@h/x', 'https://***@h/x'],
    ['http://token@h:8500/v1', 'http://***@h:8500/v1'],
    ['https://h/a.tar.gz?token=abc&x=1', 'https://h/a.tar.gz?token=***&x=1'],
    ['X-Consul-Token: 1234-5678', 'X-Consul-Token: ***'],
    ['{"authorization":"Bearer"}', '{"authorization":"***"}'],
    ['Authorization: Bearer abc.def', 'Authorization: ***'],
    ['plain text stays', 'plain text stays'],
  ])('%s', (input, expected) => {
    expect(redactCredentials(input)).toBe(expected);
  });

  it('describes foreign errors without leaking credentials', () => {
    expect(describeError(new Error('connect to https://a:b@h failed'))).toBe(
      'connect to https://***@h failed',
    );
    expect(describeError('x')).toBe('x');
  });
});
