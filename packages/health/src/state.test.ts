import { parseHealthState } from '@p2/keyspace';
import { describe, expect, it } from 'vitest';
import {
  countHealthByPod,
  countHealthOnNodes,
  healthyCountByPod,
  sortNodesWorstFirst,
  statusByNode,
} from './aggregate.js';
import { bestHealth, compareHealth, healthOrdinal, isAtLeast, worstHealth } from './state.js';

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
