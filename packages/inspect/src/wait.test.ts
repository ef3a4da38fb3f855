import { describe, expect, it } from 'vitest';
import type { PodInspection } from './inspect.js';
import { podProgress } from './wait.js';

const row = (extra: Partial<PodInspection>): PodInspection => ({
  node: 'h1',
  pod: 'web',
  verdict: 'pending',
  ...extra,
});
const status = (state: 'running' | 'failed' | 'invalid', sha: string, error?: string) => ({
  pod: 'web',
  uniqueKey: '',
  state,
  sha,
  ...(error ? { error } : {}),
  updated: '2026-01-01T00:00:00Z',
});
const running = { node: 'h1', pod: 'web', want: 'running' } as const;

describe('podProgress', () => {
  it('is done only when converged, running at the intended sha and (if checked) passing', () => {
    const converged = row({ intentSha: 'a', realitySha: 'a', verdict: 'converged' });
    expect(podProgress(converged, running).end).toBeUndefined();
    expect(
      podProgress({ ...converged, status: status('running', 'b') }, running).end,
    ).toBeUndefined();
    const up = { ...converged, status: status('running', 'a') };
    expect(podProgress(up, running).end?.outcome).toBe('ok');
    expect(podProgress(up, { ...running, healthChecked: true }).end).toBeUndefined();
    expect(
      podProgress({ ...up, health: 'passing' }, { ...running, healthChecked: true }).end?.outcome,
    ).toBe('ok');
  });

  it("ends with the preparer's state and error when it refuses the intended manifest", () => {
    const end = podProgress(
      row({ intentSha: 'a', verdict: 'failed', status: status('invalid', 'a', 'bad launchable') }),
      running,
    ).end;
    expect(end).toMatchObject({
      outcome: 'invalid',
      message: 'web on h1: invalid: bad launchable',
    });
  });

  it('gone: no row, or a row with neither intent nor reality', () => {
    const gone = { ...running, want: 'gone' } as const;
    expect(podProgress(undefined, gone).end?.outcome).toBe('ok');
    expect(podProgress(row({ realitySha: 'a', verdict: 'removing' }), gone).end).toBeUndefined();
    expect(podProgress(row({ verdict: 'unknown' }), gone).end?.outcome).toBe('ok');
  });
});
