import { KvError } from '@p2/kv';
import { describe, expect, it } from 'vitest';
import {
  decodeHealthRecord,
  encodeHealthRecord,
  HealthStore,
  healthKey,
  parseHealthKey,
  parseHealthState,
} from './health.js';

describe('health records', () => {
  it('forms and splits P2 keys', () => {
    expect(healthKey('web', 'h1.example')).toBe('health/web/h1.example');
    expect(parseHealthKey('health/web/h1.example')).toEqual({ podId: 'web', node: 'h1.example' });
    for (const bad of ['health/web', 'health/web/h1/x', 'intent/h1/web', 'health//h1']) {
      expect(() => parseHealthKey(bad)).toThrow(KvError);
    }
    expect(() => healthKey('a/b', 'h1')).toThrowError(/pod id "a\/b" is empty or contains "\/"/);
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
        code: 'P2_KV_BAD_RECORD',
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

describe('health states as stored', () => {
  it('reads a wrongly-cased or unknown status as unknown (spec 01 §2.4)', () => {
    expect(parseHealthState('Passing')).toBe('unknown');
    expect(parseHealthState(undefined)).toBe('unknown');
    expect(
      HealthStore.decode({
        key: 'health/web/h1',
        value: new TextEncoder().encode('{"status":"PASSING"}'),
      } as never).status,
    ).toBe('unknown');
  });
});
