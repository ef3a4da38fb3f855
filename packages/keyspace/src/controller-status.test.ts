import { describe, expect, it } from 'vitest';
import {
  decodeDsStatus,
  decodeRollStatus,
  encodeDsStatus,
  encodeRollStatus,
  type RollStatus,
} from './controller-status.js';

describe('controller status records', () => {
  const counts = { desired: 3, current: 3, real: 3, healthy: 2, unhealthy: 0, unknown: 1 };
  const roll: RollStatus = {
    state: 'rolling',
    message: 'started',
    originalOldReplicas: 3,
    originalTotal: 3,
    startedAt: '2026-01-02T03:04:05Z',
    lastProgressAt: '2026-01-02T03:04:05Z',
    updatedAt: '2026-01-02T03:04:06Z',
    old: counts,
    new: { ...counts, desired: 0 },
  };

  it('writes a roll status in its field order and reads it back', () => {
    const json = encodeRollStatus({ ...roll, old: undefined, new: undefined });
    expect(json).toBe(
      '{"state":"rolling","message":"started","originalOldReplicas":3,"originalTotal":3,"startedAt":"2026-01-02T03:04:05Z","lastProgressAt":"2026-01-02T03:04:05Z","updatedAt":"2026-01-02T03:04:06Z"}',
    );
    expect(decodeRollStatus(encodeRollStatus(roll))).toEqual(roll);
  });

  it('writes a daemon set status in P2 field order, then p2 additions', () => {
    const status = {
      manifest_sha: 'abc',
      nodes_deployed: 2,
      replication_in_progress: true,
      replacing: { n1: 5 },
      nodes_timed_out: [],
    };
    expect(encodeDsStatus(status)).toBe(
      '{"manifest_sha":"abc","nodes_deployed":2,"replication_in_progress":true,"replacing":{"n1":5},"nodes_timed_out":[]}',
    );
    expect(decodeDsStatus(encodeDsStatus(status))).toEqual(status);
  });

  it('names the key of a record that is not a JSON object', () => {
    expect(() => decodeRollStatus('{', 'status/rolls/x/rolling_update')).toThrow(
      expect.objectContaining({
        code: 'P2_KV_BAD_RECORD',
        message: 'status/rolls/x/rolling_update: not valid JSON',
      }),
    );
    expect(() => decodeDsStatus('[]', 'k')).toThrow(
      expect.objectContaining({ code: 'P2_KV_BAD_RECORD' }),
    );
  });
});
