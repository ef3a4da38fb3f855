import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GateReportStore } from './gates.js';
import { decodeRoll, encodeRoll, ROLL_DEFAULTS } from './records.js';
import { rawValue, startTestStore, type TestStore } from './test-support.js';

let t: TestStore;
beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await t?.cleanup();
});

describe('metric gates', () => {
  it("a rolling update's gate round-trips, in Go nanoseconds; P2's records have none", () => {
    const ru = {
      ...ROLL_DEFAULTS,
      oldRc: 'a',
      newRc: 'b',
      desiredReplicas: 2,
      minimumReplicas: 1,
      metricGate: { path: '/metrics', expr: 'e_total / r_total < 0.05', soakMs: 30_000 },
    };
    const json = encodeRoll(ru);
    expect(JSON.parse(json).MetricGate).toEqual({
      Path: '/metrics',
      Expr: 'e_total / r_total < 0.05',
      Soak: 30_000_000_000,
    });
    expect(decodeRoll(json)).toEqual(ru);
    const p2 =
      '{"OldRC":"a","NewRC":"b","DesiredReplicas":2,"MinimumReplicas":1,"LeaveOld":false,"RollDelay":0}';
    expect(decodeRoll(p2).metricGate).toBeUndefined();
    expect(() =>
      decodeRoll('{"OldRC":"a","NewRC":"b","MetricGate":{"Path":"/m"}}', 'rolls/b'),
    ).toThrow(/rolls\/b MetricGate.*"Expr" is missing/);
  });

  it('reports live at status/gates/<node>/<pod>; malformed ones are refused, bad ids too', async () => {
    const gates = new GateReportStore(t.store);
    expect(await gates.get('n1', 'web')).toBeUndefined();
    const report = {
      sha: 'abc',
      roll: 'rc-2',
      state: 'failed' as const,
      reason: 'x < 1 does not hold: the value is 2',
      value: 2,
      updated: '2026-12-05T00:00:00Z',
    };
    await gates.set('n1', 'web', report);
    expect(await rawValue(t.store, 'status/gates/n1/web')).toContain('"failed"');
    expect(await gates.get('n1', 'web')).toEqual(report);
    await t.store.put('status/gates/n1/web', '{"sha":"abc","roll":"r","state":"maybe"}');
    await expect(gates.get('n1', 'web')).rejects.toMatchObject({ code: 'P2_KV_BAD_RECORD' });
    await gates.delete('n1', 'web');
    expect(await gates.get('n1', 'web')).toBeUndefined();
    await expect(gates.get('../n1', 'web')).rejects.toMatchObject({ code: 'P2_KV_INVALID_KEY' });
  });
});
