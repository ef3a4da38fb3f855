/** Counting an RC's replicas for a rolling update: real, healthy, unhealthy, unknown. */
import { sameManifest, storeError } from '@p2/controller-kit';
import {
  type HealthState,
  type IndexedLabels,
  type RcNodeCounts,
  type RcRecord,
  realityKey,
} from '@p2/keyspace';
import type { Store } from '@p2/kv';

/**
 * Counts an RC's replicas for a rolling update (spec 03 §2.5): a pod is real when its reality
 * matches the RC's manifest; real pods are healthy (`passing`), unhealthy (`warning`,
 * `critical`) or unknown (`unknown`, no result). Desired-but-unlabelled replicas count as unknown.
 */
export async function countReplicas(
  store: Store,
  current: Map<string, IndexedLabels>,
  rc: RcRecord,
  health: Map<string, HealthState>,
): Promise<RcNodeCounts> {
  const counts: RcNodeCounts = {
    desired: rc.replicasDesired,
    current: current.size,
    real: 0,
    healthy: 0,
    unhealthy: 0,
    unknown: Math.max(0, rc.replicasDesired - current.size),
  };
  const nodes = [...current.keys()];
  const reality = await readRealities(store, nodes, rc.manifest.id);
  const sha = rc.manifest.sha();
  for (const node of nodes) {
    const r = reality.get(node);
    if (r === undefined || !sameManifest(r, rc.manifest.raw, sha)) continue;
    counts.real++;
    const h = health.get(node);
    if (h === 'passing') counts.healthy++;
    else if (h === undefined || h === 'unknown') counts.unknown++;
    else counts.unhealthy++;
  }
  return counts;
}

async function readRealities(
  store: Store,
  nodes: string[],
  podId: string,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  await Promise.all(
    nodes.map(async (node) => {
      try {
        const e = (await store.get(realityKey(node, podId))).value;
        if (e) out.set(node, e.value);
      } catch (cause) {
        throw storeError(`reading ${realityKey(node, podId)}`, cause);
      }
    }),
  );
  return out;
}
