import { describe, expect, it } from 'vitest';
import {
  decodeDsStatus,
  decodeRcStatus,
  decodeRollStatus,
  encodeDsStatus,
  encodeRcStatus,
  encodeRollStatus,
  type RollStatus,
} from './controller-status.js';
import { rcStatusKey } from './keys.js';

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

  it('writes an RC status as P2 did: {} without a transfer, Go field order and escaping with one', () => {
    expect(rcStatusKey('abc')).toBe('status/replication_controllers/abc/replication_controller');
    // Go: json.Marshal(rcstatus.Status{}) — a nil *NodeTransfer with omitempty is left out.
    expect(encodeRcStatus({})).toBe('{}');
    const transfer = {
      node_transfer: {
        old_node: 'n<1>',
        new_node: 'n&2',
        id: '6f1c9d2e-0000-4000-8000-000000000001',
      },
    };
    // Go: json.Marshal of the same, with HTML-safe escaping.
    const go =
      '{"node_transfer":{"old_node":"n\\u003c1\\u003e","new_node":"n\\u00262","id":"6f1c9d2e-0000-4000-8000-000000000001"}}';
    expect(encodeRcStatus(transfer)).toBe(go);
    expect(decodeRcStatus(go)).toEqual(transfer);
    expect(decodeRcStatus(encodeRcStatus({}))).toEqual({});
    // p2-rctl get-status: json.MarshalIndent(status, "", "    ").
    expect(encodeRcStatus({}, '    ')).toBe('{}');
    expect(
      encodeRcStatus({ node_transfer: { old_node: 'a', new_node: 'b', id: 'u' } }, '    '),
    ).toBe(
      '{\n    "node_transfer": {\n        "old_node": "a",\n        "new_node": "b",\n        "id": "u"\n    }\n}',
    );
  });

  it('reads an RC status as Go decoded it: null is no transfer, unknown fields dropped, bad shapes refused', () => {
    expect(decodeRcStatus('{"node_transfer":null,"extra":1}')).toEqual({});
    expect(decodeRcStatus('{"node_transfer":{"old_node":"a"}}')).toEqual({
      node_transfer: { old_node: 'a', new_node: '', id: '' },
    });
    for (const bad of ['{"node_transfer":"a"}', '{"node_transfer":{"id":5}}', '[]']) {
      expect(() => decodeRcStatus(bad, 'k')).toThrow(
        expect.objectContaining({ code: 'P2_KV_BAD_RECORD' }),
      );
    }
  });
});
