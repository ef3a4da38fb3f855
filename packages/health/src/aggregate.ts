import type { HealthRecord } from '@p2/keyspace';
import { type HealthState, healthOrdinal, isAtLeast } from './state.js';

/** How many nodes report each state for one pod. */
export interface HealthCounts {
  passing: number;
  warning: number;
  unknown: number;
  critical: number;
  /** Nodes counted. */
  total: number;
  /** Nodes at or above the threshold (`passing` unless told otherwise). */
  healthy: number;
}

function emptyCounts(): HealthCounts {
  return { passing: 0, warning: 0, unknown: 0, critical: 0, total: 0, healthy: 0 };
}

/**
 * Counts states per pod across nodes, e.g. from a list of `health/` records.
 *
 * @param threshold the least state counted as healthy. @default 'passing'
 * @example
 * ```ts
 * const counts = countHealthByPod(records);
 * counts.get('web') // { passing: 2, warning: 0, unknown: 0, critical: 1, total: 3, healthy: 2 }
 * ```
 */
export function countHealthByPod(
  records: Iterable<Pick<HealthRecord, 'podId' | 'status'>>,
  threshold: HealthState = 'passing',
): Map<string, HealthCounts> {
  const byPod = new Map<string, HealthCounts>();
  for (const record of records) {
    let counts = byPod.get(record.podId);
    if (counts === undefined) {
      counts = emptyCounts();
      byPod.set(record.podId, counts);
    }
    add(counts, record.status, threshold);
  }
  return byPod;
}

/**
 * Healthy nodes per pod (records at or above `threshold`). Pods whose every node is unhealthy map to 0.
 *
 * @example healthyCountByPod([{ podId: 'web', status: 'passing' }, { podId: 'web', status: 'critical' }]).get('web') // 1
 */
export function healthyCountByPod(
  records: Iterable<Pick<HealthRecord, 'podId' | 'status'>>,
  threshold: HealthState = 'passing',
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [podId, counts] of countHealthByPod(records, threshold))
    out.set(podId, counts.healthy);
  return out;
}

/**
 * Counts one pod's states over a given node list, as P2's replication controllers did: a node with
 * no record counts as `unknown`; records of other nodes are ignored.
 *
 * @example countHealthOnNodes(['h1', 'h2'], new Map([['h1', 'passing']])) // { passing: 1, unknown: 1, …, total: 2, healthy: 1 }
 */
export function countHealthOnNodes(
  nodes: Iterable<string>,
  statusByNode: ReadonlyMap<string, HealthState>,
  threshold: HealthState = 'passing',
): HealthCounts {
  const counts = emptyCounts();
  for (const node of new Set(nodes)) add(counts, statusByNode.get(node) ?? 'unknown', threshold);
  return counts;
}

/** Latest status per node for one pod, from a list of records (e.g. a listing of `health/<pod>/`). */
export function statusByNode(
  records: Iterable<Pick<HealthRecord, 'node' | 'status'>>,
): Map<string, HealthState> {
  const out = new Map<string, HealthState>();
  for (const r of records) out.set(r.node, r.status);
  return out;
}

/**
 * Nodes ordered least healthy first (P2's `health.SortOrder`, used to update broken nodes first);
 * a node without a record counts as `unknown`; ties keep the given order.
 *
 * @example sortNodesWorstFirst(['a', 'b', 'c'], new Map([['a', 'passing'], ['b', 'critical']])) // ['b', 'c', 'a']
 */
export function sortNodesWorstFirst(
  nodes: readonly string[],
  statusByNode: ReadonlyMap<string, HealthState>,
): string[] {
  return nodes
    .map((node, i) => ({ node, i, rank: healthOrdinal(statusByNode.get(node) ?? 'unknown') }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .map((x) => x.node);
}

function add(counts: HealthCounts, status: HealthState, threshold: HealthState): void {
  counts[status] += 1;
  counts.total += 1;
  if (isAtLeast(status, threshold)) counts.healthy += 1;
}
