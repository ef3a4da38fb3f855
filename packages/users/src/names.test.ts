import { isP2Error } from '@p2/errors';
import { describe, expect, it } from 'vitest';
import { assertValidUserName, userNameProblem } from './index.js';

describe('user names', () => {
  it.each(['hello', 'p2-preparer', '_svc', 'a1_b-c', 'x'.repeat(32)])('accepts %s', (name) => {
    expect(userNameProblem(name)).toBeUndefined();
  });

  it.each([
    ['', 'is empty'],
    ['Hello', 'lowercase'],
    ['1234', 'uid'],
    ['hello world', 'lowercase'],
    ['../etc', 'lowercase'],
    ['-rf', 'lowercase'],
    ['x'.repeat(33), 'at most 32'],
  ])('rejects %j', (name, fragment) => {
    expect(userNameProblem(name)).toContain(fragment);
  });

  it('throws a coded error that names the input', () => {
    try {
      assertValidUserName('My.Pod', 'pod id');
      expect.unreachable();
    } catch (error) {
      expect(isP2Error(error, 'P2_USERS_INVALID_NAME')).toBe(true);
      expect((error as Error).message).toContain('pod id "My.Pod"');
    }
  });
});
