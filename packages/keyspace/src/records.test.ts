import { formatRfc3339Nano } from '@p2/go';
import { Selector } from '@p2/labels';
import { parseManifest } from '@p2/manifest';
import { describe, expect, it } from 'vitest';
import { idFromKey } from './keys.js';
import {
  decodeAudit,
  decodeDs,
  decodeRc,
  decodeRoll,
  encodeAudit,
  encodeDs,
  encodeRc,
  encodeRoll,
  ROLL_DEFAULTS,
} from './records.js';

const MANIFEST =
  'id: hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://h/hello_1.tar.gz\n';
const manifest = parseManifest(MANIFEST);

describe('RC records', () => {
  const rc = {
    id: '9a7c1b5e-3f7e-4b8e-9a51-2c3c0f3f4a11',
    manifest,
    nodeSelector: Selector.parse('role=web, az in (b,a)'),
    podLabels: { cluster_name: 'main', availability_zone: 'a' },
    replicasDesired: 3,
    disabled: false,
    allocationStrategy: 'static_strategy',
  };

  it('encodes in P2 field order with the canonical selector and Go escaping', () => {
    expect(encodeRc(rc)).toBe(
      '{"id":"9a7c1b5e-3f7e-4b8e-9a51-2c3c0f3f4a11","manifest":"id: hello\\nlaunchables:\\n  app:\\n    launchable_type: hoist\\n    location: https://h/hello_1.tar.gz\\n","node_selector":"az in (a,b),role=web","pod_labels":{"availability_zone":"a","cluster_name":"main"},"replicas_desired":3,"disabled":false,"allocation_strategy":"static_strategy"}',
    );
  });

  it('round-trips, including the spread extension', () => {
    const back = decodeRc(encodeRc({ ...rc, topologySpreadKey: 'az' }), 'k');
    expect(back.manifest.sha()).toBe(manifest.sha());
    expect(back.nodeSelector.toString()).toBe('az in (a,b),role=web');
    expect(back.topologySpreadKey).toBe('az');
    expect(back.podLabels).toEqual(rc.podLabels);
  });

  it('refuses a record without replicas_desired (a missing count must never mean 0)', () => {
    const json = JSON.parse(encodeRc(rc));
    delete json.replicas_desired;
    expect(() => decodeRc(JSON.stringify(json), 'replication_controllers/x')).toThrow(
      /replication_controllers\/x: the required field "replicas_desired" is missing/,
    );
  });

  it.each([
    [{ manifest: undefined }, /"manifest" is missing/],
    [{ manifest: 'id: [' }, /its manifest cannot be read/],
    [{ node_selector: 'a in b' }, /"node_selector": cannot parse label selector/],
    [{ replicas_desired: '3' }, /"replicas_desired" must be an integer/],
    [{ disabled: 'no' }, /"disabled" must be true or false/],
    [{ pod_labels: { a: 1 } }, /"pod_labels.a" must be a string/],
  ])('reports bad field %o', (patch, message) => {
    const json = { ...JSON.parse(encodeRc(rc)), ...patch };
    expect(() => decodeRc(JSON.stringify(json), 'k')).toThrow(message);
    try {
      decodeRc(JSON.stringify(json), 'k');
    } catch (e) {
      expect((e as { code: string }).code).toBe('P2_KV_BAD_RECORD');
    }
  });

  it('accepts null pod_labels and an absent strategy as P2 wrote them', () => {
    const json = { ...JSON.parse(encodeRc(rc)), pod_labels: null };
    delete json.allocation_strategy;
    const back = decodeRc(JSON.stringify(json));
    expect(back.podLabels).toEqual({});
    expect(back.allocationStrategy).toBe('');
  });
});

describe('rolling update records', () => {
  it('reads a record P2 wrote (Go field names, nanoseconds) with p2 defaults', () => {
    const ru = decodeRoll(
      '{"OldRC":"old","NewRC":"new","DesiredReplicas":3,"MinimumReplicas":2,"LeaveOld":false,"RollDelay":5000000000}',
    );
    expect(ru).toEqual({
      ...ROLL_DEFAULTS,
      oldRc: 'old',
      newRc: 'new',
      desiredReplicas: 3,
      minimumReplicas: 2,
      rollDelayMs: 5000,
    });
  });

  it('writes P2 fields first, extensions after', () => {
    const text = encodeRoll({
      ...ROLL_DEFAULTS,
      oldRc: 'o',
      newRc: 'n',
      desiredReplicas: 3,
      minimumReplicas: 2,
      strategy: 'surge',
      progressDeadlineMs: 60_000,
      autoRollback: true,
    });
    expect(text).toBe(
      '{"OldRC":"o","NewRC":"n","DesiredReplicas":3,"MinimumReplicas":2,"LeaveOld":false,"RollDelay":0,"Strategy":"surge","MaxSurge":1,"MaxUnavailable":0,"ProgressDeadline":60000000000,"AutoRollback":true,"Paused":false}',
    );
    expect(decodeRoll(text).progressDeadlineMs).toBe(60_000);
  });

  it('rejects an unknown strategy', () => {
    expect(() => decodeRoll('{"OldRC":"o","NewRC":"n","Strategy":"yolo"}')).toThrow(
      /"unavailable" or "surge"/,
    );
  });
});

describe('daemon set records', () => {
  const ds = {
    id: 'd1',
    disabled: false,
    manifest,
    minHealth: 1,
    clusterName: 'main',
    nodeSelector: Selector.parse('role=db'),
    podId: 'hello',
    timeoutMs: 30_000,
  };
  it('round-trips in P2 field order', () => {
    const text = encodeDs(ds);
    expect(text.startsWith('{"id":"d1","disabled":false,"manifest":"id: hello')).toBe(true);
    expect(
      text.endsWith(
        '"min_health":1,"cluster_name":"main","node_selector":"role=db","pod_id":"hello","timeout":30000000000}',
      ),
    ).toBe(true);
    const back = decodeDs(text);
    expect(back.timeoutMs).toBe(30_000);
    expect(back.nodeSelector.toString()).toBe('role=db');
  });

  it('refuses a pod_id that is not the manifest id', () => {
    expect(() => decodeDs(encodeDs({ ...ds, podId: 'other' }), 'daemon_sets/d1')).toThrow(
      /"pod_id" is "other" but the manifest id is "hello"/,
    );
  });
});

describe('audit records and keys', () => {
  it('writes schema version 1 and Go timestamps', () => {
    const text = encodeAudit(
      'REPLICATION_CONTROLLER_RETARGET',
      { pod_id: 'hello', nodes: ['a'] },
      new Date('2026-01-02T03:04:05.120Z'),
    );
    expect(text).toBe(
      '{"event_type":"REPLICATION_CONTROLLER_RETARGET","event_details":{"pod_id":"hello","nodes":["a"]},"timestamp":"2026-01-02T03:04:05.12Z","schema_version":1}',
    );
    expect(decodeAudit(text).schemaVersion).toBe(1);
    expect(formatRfc3339Nano(new Date('2026-01-02T03:04:05.000Z'))).toBe('2026-01-02T03:04:05Z');
  });

  it('extracts ids only from direct children', () => {
    expect(idFromKey('rolls/', 'rolls/abc')).toBe('abc');
    expect(idFromKey('rolls/', 'rolls/abc/x')).toBeUndefined();
    expect(idFromKey('rolls/', 'rolls/')).toBeUndefined();
  });
});
