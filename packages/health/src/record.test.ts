import { describe, expect, it } from 'vitest';
import {
  countHealthByPod,
  countHealthOnNodes,
  healthyCountByPod,
  sortNodesWorstFirst,
  statusByNode,
} from './aggregate.js';
import { HealthError } from './errors.js';
import {
  decodeHealthRecord,
  encodeHealthRecord,
  formatRfc3339Nano,
  healthKey,
  parseHealthKey,
} from './record.js';
import {
  bestHealth,
  compareHealth,
  healthOrdinal,
  isAtLeast,
  parseHealthState,
  worstHealth,
} from './state.js';

describe('states', () => {
  it('orders critical < unknown < warning < passing', () => {
    expect(['passing', 'unknown', 'critical', 'warning'].sort(compareHealth)).toEqual([
      'critical',
      'unknown',
      'warning',
      'passing',
    ]);
    expect(worstHealth(['passing', 'warning', 'unknown'])).toBe('unknown');
    expect(bestHealth(['critical', 'warning'])).toBe('warning');
    expect(worstHealth([])).toBe('unknown');
    expect(isAtLeast('warning', 'warning')).toBe(true);
    expect(isAtLeast('unknown', 'warning')).toBe(false);
  });

  it('reads unknown strings as unknown but ranks them as critical (both P2 rules)', () => {
    expect(parseHealthState('Passing')).toBe('unknown');
    expect(parseHealthState(undefined)).toBe('unknown');
    expect(healthOrdinal('green')).toBe(healthOrdinal('critical'));
    expect(worstHealth(['passing', 'green'])).toBe('critical');
  });
});

describe('health records', () => {
  it('forms and splits P2 keys', () => {
    expect(healthKey('web', 'h1.example')).toBe('health/web/h1.example');
    expect(parseHealthKey('health/web/h1.example')).toEqual({ podId: 'web', node: 'h1.example' });
    for (const bad of ['health/web', 'health/web/h1/x', 'intent/h1/web', 'health//h1']) {
      expect(() => parseHealthKey(bad)).toThrow(HealthError);
    }
    expect(() => healthKey('a/b', 'h1')).toThrowError(/pod id "a\/b" is empty or contains "\/"/);
  });

  it("formats times like Go's RFC3339Nano", () => {
    expect(formatRfc3339Nano(new Date('2026-01-02T03:04:05.000Z'))).toBe('2026-01-02T03:04:05Z');
    expect(formatRfc3339Nano(new Date('2026-01-02T03:04:05.120Z'))).toBe('2026-01-02T03:04:05.12Z');
  });

  it('encodes in Go field order with Expires 100 years on', () => {
    const text = encodeHealthRecord({
      podId: 'web',
      node: 'h1',
      status: 'critical',
      time: new Date('2026-01-02T03:04:05.5Z'),
    });
    expect(Object.keys(JSON.parse(text))).toEqual([
      'Id',
      'Node',
      'Service',
      'Status',
      'Time',
      'Expires',
    ]);
    expect(text).toMatch(
      /^\{"Id":"web","Node":"h1","Service":"web","Status":"critical","Time":"2026-01-02T03:04:05.5Z","Expires":"2126-01-0[12]T/,
    );
  });

  it('decodes what P2 wrote, field names in any case, and round-trips', () => {
    const p2 =
      '{"Id":"hello","Node":"node1","Service":"hello","Status":"passing","Time":"2020-01-15T10:11:12.123456789-08:00","Expires":"2120-01-15T10:11:12.123456789-08:00"}';
    const r = decodeHealthRecord(new TextEncoder().encode(p2));
    expect(r).toMatchObject({ podId: 'hello', node: 'node1', service: 'hello', status: 'passing' });
    expect(r.time.toISOString()).toBe('2020-01-15T18:11:12.123Z');
    expect(decodeHealthRecord('{"ID":"x","node":"n","status":"warning"}').status).toBe('warning');
    expect(decodeHealthRecord('{"Status":"sick"}', 'health/web/h2')).toMatchObject({
      podId: 'web',
      node: 'h2',
      service: 'web',
      status: 'unknown',
    });
    const time = new Date('2026-03-04T05:06:07.089Z');
    const back = decodeHealthRecord(
      encodeHealthRecord({ podId: 'a', node: 'b', status: 'warning', time }),
    );
    expect(back.time).toEqual(time);
    expect(back.expires.getUTCFullYear()).toBe(2126);
  });

  it('refuses values that are not records, naming the key', () => {
    expect(() => decodeHealthRecord('nope', 'health/web/h1')).toThrowError(
      expect.objectContaining({
        code: 'P2_HEALTH_INVALID_RECORD',
        message: expect.stringContaining('health value at health/web/h1 is not JSON'),
      }),
    );
    expect(() => decodeHealthRecord('[1]')).toThrowError(/expected a JSON object/);
    expect(() => decodeHealthRecord('{"Status":3}')).toThrowError(/field Status must be a string/);
    expect(() => decodeHealthRecord('{"Time":"yesterday"}')).toThrowError(
      /field Time must be an RFC 3339 time/,
    );
  });
});

describe('aggregation', () => {
  const records = [
    { podId: 'web', node: 'h1', status: 'passing' as const },
    { podId: 'web', node: 'h2', status: 'critical' as const },
    { podId: 'web', node: 'h3', status: 'warning' as const },
    { podId: 'db', node: 'h1', status: 'unknown' as const },
  ];

  it('counts healthy nodes per pod', () => {
    expect(healthyCountByPod(records)).toEqual(
      new Map([
        ['web', 1],
        ['db', 0],
      ]),
    );
    expect(healthyCountByPod(records, 'warning').get('web')).toBe(2);
    expect(countHealthByPod(records).get('web')).toEqual({
      passing: 1,
      warning: 1,
      unknown: 0,
      critical: 1,
      total: 3,
      healthy: 1,
    });
  });

  it('counts over a node list with missing nodes as unknown', () => {
    const byNode = statusByNode(records.filter((r) => r.podId === 'web'));
    expect(countHealthOnNodes(['h1', 'h2', 'h9', 'h9'], byNode)).toEqual({
      passing: 1,
      warning: 0,
      unknown: 1,
      critical: 1,
      total: 3,
      healthy: 1,
    });
    expect(sortNodesWorstFirst(['h1', 'h3', 'h9', 'h2'], byNode)).toEqual(['h2', 'h9', 'h3', 'h1']);
  });
});
