import { describe, expect, it } from 'vitest';
import { checkRunAs, type RunAsFacts } from './run-as.js';

const base: RunAsFacts = { podId: 'web', user: 'web', logUser: 'nobody' };
const refused = (facts: Partial<RunAsFacts>, policy = {}) => {
  try {
    checkRunAs(policy, { ...base, ...facts });
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
};

describe('run_as policy', () => {
  it('allows a user that does not exist yet (it becomes the pod’s own)', () => {
    expect(refused({})).toBeUndefined();
  });
  it('refuses root by name and by uid, the log user and system accounts', () => {
    expect(refused({ user: 'root' })).toMatch(/root/);
    expect(refused({ user: 'toor', account: { uid: 0, home: '/root' } })).toMatch(/uid 0/);
    expect(refused({ user: 'nobody', account: { uid: 65534, home: '/' } })).toMatch(/log/);
    expect(refused({ user: 'daemon', account: { uid: 1, home: '/usr/sbin' } })).toMatch(
      /below run_as_min_uid 1000/,
    );
    expect(
      refused({ user: 'svc', account: { uid: 1500, home: '/srv' } }, { minUid: 2000 }),
    ).toMatch(/below run_as_min_uid 2000/);
  });
  it('recognises pod users by their home: its own pod yes, another pod no', () => {
    const account = { uid: 120, home: '/data/pods/web' };
    expect(refused({ account, homeOfPod: 'web' })).toBeUndefined();
    expect(refused({ podId: 'evil', account, homeOfPod: 'web' })).toMatch(/user of pod web/);
  });
  it('refuses an account another installed pod runs as', () => {
    const account = { uid: 1200, home: '/home/alice' };
    expect(refused({ user: 'alice', account })).toBeUndefined();
    expect(refused({ user: 'alice', account, usedByPod: 'api' })).toMatch(/pod api already/);
  });
  it('opens exceptions only for the pods the allowlist names', () => {
    const root = { user: 'root', account: { uid: 0, home: '/root' } };
    expect(
      refused({ ...root, podId: 'p2-preparer' }, { allow: { 'p2-preparer': ['root'] } }),
    ).toBeUndefined();
    expect(refused({ ...root, podId: 'web' }, { allow: { 'p2-preparer': ['root'] } })).toMatch(
      /root/,
    );
    expect(refused({ ...root }, { allow: { '*': ['root'] } })).toBeUndefined();
  });
  it('says how to open an exception', () => {
    try {
      checkRunAs({}, { ...base, user: 'root' });
    } catch (error) {
      expect(error).toMatchObject({
        code: 'P2_PODS_RUN_AS_REFUSED',
        hint: expect.stringContaining('run_as_allow: {web: [root]}'),
      });
    }
    expect.assertions(1);
  });
});
