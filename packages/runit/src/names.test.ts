import { describe, expect, it } from 'vitest';
import { serviceName } from './index.js';

describe('serviceName (spec 02 §2.12, fixtures in §10)', () => {
  it('names legacy pods after the entry basename', () => {
    expect(
      serviceName({
        podUniqueName: 'testPod',
        launchableId: 'testLaunchable',
        entryPoint: 'bin/launch',
      }),
    ).toBe('testPod__testLaunchable__launch');
    expect(
      serviceName({
        podUniqueName: 'testPod',
        launchableId: 'testLaunchable',
        entryPoint: 'bin/launch/script1',
      }),
    ).toBe('testPod__testLaunchable__script1');
  });

  it('names uuid pods after the whole relative path', () => {
    const pod = 'hello-0b3b4b2c-5a51-4f0e-9a4b-1f1d2a7c9e11';
    expect(
      serviceName({
        podUniqueName: pod,
        launchableId: 'app',
        entryPoint: 'bin/launch',
        uuidPod: true,
      }),
    ).toBe(`${pod}__app__bin__launch`);
    expect(
      serviceName({
        podUniqueName: pod,
        launchableId: 'app',
        entryPoint: './bin/launch/script1',
        uuidPod: true,
      }),
    ).toBe(`${pod}__app__bin__launch__script1`);
  });

  it.each([
    [{ podUniqueName: '../etc', launchableId: 'a', entryPoint: 'bin/launch' }],
    [{ podUniqueName: 'pod', launchableId: 'a/b', entryPoint: 'bin/launch' }],
    [{ podUniqueName: 'pod', launchableId: 'a', entryPoint: '../../bin/sh' }],
    [{ podUniqueName: 'pod', launchableId: 'a', entryPoint: '/bin/sh' }],
    [{ podUniqueName: 'pod with space', launchableId: 'a', entryPoint: 'bin/launch' }],
    [{ podUniqueName: '', launchableId: 'a', entryPoint: 'bin/launch' }],
    [{ podUniqueName: '.hidden', launchableId: 'a', entryPoint: 'bin/launch' }],
    [{ podUniqueName: 'p2-slot-x', launchableId: 'a', entryPoint: 'bin/launch' }],
  ])('refuses %j with P2_RUNIT_INVALID_NAME', (parts) => {
    expect(() => serviceName(parts)).toThrow(
      expect.objectContaining({ code: 'P2_RUNIT_INVALID_NAME' }),
    );
  });
});
