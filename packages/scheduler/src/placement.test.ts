import { parseManifest } from '@p2/manifest';
import { describe, expect, it } from 'vitest';
import { type CandidateNode, nodeCapacity, placeReplicas, podDemand } from './placement.js';

const none = { cpus: 0, memory: 0 };
const node = (
  name: string,
  labels: Record<string, string> = {},
  extra: Partial<CandidateNode> = {},
) => ({
  name,
  labels,
  ...extra,
});

describe('podDemand', () => {
  it('uses resource_limits.cgroup when present', () => {
    const m = parseManifest(
      'id: a\nresource_limits:\n  cgroup:\n    cpus: 2\n    memory: 1G\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://h/a_1.tar.gz\n    cgroup:\n      cpus: 8\n',
    );
    expect(podDemand(m)).toEqual({ cpus: 2, memory: 2 ** 30 });
  });

  it('sums launchable cgroups otherwise, 0 when nothing is declared', () => {
    const m = parseManifest(
      'id: a\nlaunchables:\n  one:\n    launchable_type: hoist\n    location: https://h/a_1.tar.gz\n    cgroup:\n      cpus: 1\n      memory: 512M\n  two:\n    launchable_type: hoist\n    location: https://h/b_1.tar.gz\n    cgroup:\n      cpus: 2\n',
    );
    expect(podDemand(m)).toEqual({ cpus: 3, memory: 512 * 2 ** 20 });
    expect(podDemand(parseManifest('id: a\nlaunchables: {}\n'))).toEqual(none);
  });
});

describe('nodeCapacity', () => {
  it('reads capacity labels, unlimited when absent or unreadable', () => {
    expect(nodeCapacity({ 'p2.capacity/cpus': '4', 'p2.capacity/memory': '8G' })).toEqual({
      cpus: 4,
      memory: 8 * 2 ** 30,
    });
    expect(nodeCapacity({ 'p2.capacity/cpus': 'lots' })).toEqual({
      cpus: Number.POSITIVE_INFINITY,
      memory: Number.POSITIVE_INFINITY,
    });
  });
});

describe('placeReplicas', () => {
  it('fills in node-name order without a spread key (P2 order)', () => {
    const p = placeReplicas({
      candidates: [node('c'), node('a'), node('b')],
      count: 2,
      demand: none,
    });
    expect(p.nodes).toEqual(['a', 'b']);
  });

  it('spreads across a topology label, counting existing replicas', () => {
    const candidates = [
      node('a1', { az: 'a' }),
      node('a2', { az: 'a' }),
      node('b1', { az: 'b' }),
      node('b2', { az: 'b' }),
      node('c1', { az: 'c' }),
    ];
    expect(placeReplicas({ candidates, count: 3, demand: none, spreadKey: 'az' }).nodes).toEqual([
      'a1',
      'b1',
      'c1',
    ]);
    const existing = [node('x1', { az: 'a' }), node('x2', { az: 'b' })];
    expect(
      placeReplicas({ candidates, count: 2, demand: none, spreadKey: 'az', existing }).nodes,
    ).toEqual(['c1', 'a1']);
  });

  it('prefers nodes that do not already run the pod for another controller', () => {
    const p = placeReplicas({
      candidates: [node('a', {}, { occupied: true }), node('b'), node('c', {}, { occupied: true })],
      count: 2,
      demand: none,
    });
    expect(p.nodes).toEqual(['b', 'a']);
  });

  it('respects capacity and says why a node was left out', () => {
    const p = placeReplicas({
      candidates: [
        node('small', { 'p2.capacity/cpus': '1' }),
        node('full', { 'p2.capacity/cpus': '4' }, { used: { cpus: 3, memory: 0 } }),
        node('lowmem', { 'p2.capacity/memory': '1G' }),
        node('big', { 'p2.capacity/cpus': '8', 'p2.capacity/memory': '16G' }),
      ],
      count: 3,
      demand: { cpus: 2, memory: 2 ** 31 },
    });
    expect(p.nodes).toEqual(['big']);
    expect(p.unfit.map((u) => u.node).sort()).toEqual(['full', 'lowmem', 'small']);
    expect(p.unfit.find((u) => u.node === 'full')!.reason).toMatch(/needs 2 cpus, 1 of 4 free/);
  });

  it('prefers a capacity given by the caller over labels', () => {
    const p = placeReplicas({
      candidates: [
        node(
          'reported-small',
          { 'p2.capacity/cpus': '64' },
          { capacity: { cpus: 1, memory: Number.POSITIVE_INFINITY } },
        ),
        node('labelled', { 'p2.capacity/cpus': '4' }),
      ],
      count: 2,
      demand: { cpus: 2, memory: 0 },
    });
    expect(p.nodes).toEqual(['labelled']);
  });

  it('places nothing when asked for nothing, and at most one replica per node', () => {
    expect(placeReplicas({ candidates: [node('a')], count: 0, demand: none }).nodes).toEqual([]);
    expect(placeReplicas({ candidates: [node('a')], count: 3, demand: none }).nodes).toEqual(['a']);
  });
});
