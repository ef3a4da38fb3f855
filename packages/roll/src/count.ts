/** Counting an RC's replicas for a rolling update: real, healthy, unhealthy, unknown. */
import { healthyAfter, type NodeHealth, sameManifest, storeError } from '@p2/controller-kit';
import {
  decodePreparerStatus,
  type GateReport,
  GateReportStore,
  type IndexedLabels,
  preparerStatusKey,
  type RcNodeCounts,
  type RcRecord,
  realityKey,
} from '@p2/keyspace';
import { type KvEntry, KvError, KvErrorCodes, type Store } from '@p2/kv';

/**
 * Counts an RC's replicas for a rolling update (spec 03 §2.5): a pod is real when its reality
 * matches the RC's manifest; real pods are healthy (`passing`), unhealthy (`warning`,
 * `critical`) or unknown (`unknown`, no result). Desired-but-unlabelled replicas count as unknown.
 * A `passing` record written before the pod's reality entry (it vouched for the version that ran
 * before) counts as unknown: see `healthyAfter`. With `gates` (a metric-gated update's reports
 * for this RC's manifest, by node), a healthy replica whose report is not `passed` counts as unknown.
 */
export async function countReplicas(
  store: Store,
  current: Map<string, IndexedLabels>,
  rc: RcRecord,
  health: Map<string, NodeHealth>,
  gates?: Map<string, GateReport>,
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
    if (r === undefined || !sameManifest(r.value, rc.manifest.raw, sha)) continue;
    counts.real++;
    const h = health.get(node);
    // A gated replica is healthy only once its preparer says the metric gate held (it soaks after
    // its status check passes).
    const gated = gates === undefined || gates.get(node)?.state === 'passed';
    if (healthyAfter(h, r) && gated) counts.healthy++;
    else if (h === undefined || h.status === 'unknown' || h.status === 'passing') counts.unknown++;
    else counts.unhealthy++;
  }
  return counts;
}

async function readRealities(
  store: Store,
  nodes: string[],
  podId: string,
): Promise<Map<string, KvEntry>> {
  const out = new Map<string, KvEntry>();
  await Promise.all(
    nodes.map(async (node) => {
      try {
        const e = (await store.get(realityKey(node, podId))).value;
        if (e) out.set(node, e);
      } catch (cause) {
        throw storeError(`reading ${realityKey(node, podId)}`, cause);
      }
    }),
  );
  return out;
}

/**
 * The nodes whose preparer reverted `podId` from the manifest `sha` (its auto-revert: the version
 * did not get healthy in time there). A rolling update counts each as a failed step. Legacy pods
 * only (an RC's pods are), whose status record is keyed by pod id; unreadable records are skipped.
 */
export async function revertedNodes(
  store: Store,
  nodes: Iterable<string>,
  podId: string,
  sha: string,
): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(
    [...nodes].map(async (node) => {
      const key = preparerStatusKey(node, podId);
      let entry: KvEntry | undefined;
      try {
        entry = (await store.get(key)).value;
      } catch (cause) {
        throw storeError(`reading ${key}`, cause);
      }
      if (!entry) return;
      try {
        const status = decodePreparerStatus(entry.value, key);
        if (status.state === 'reverted' && status.sha === sha) out.push(node);
      } catch {
        // not a status record: nothing to say about this node
      }
    }),
  );
  return out.sort();
}

/**
 * A metric-gated update's verdicts for its new replicas: each node's `status/gates/<node>/<pod>`
 * when it is about this update (`roll`) and this manifest (`sha`). Unreadable reports are skipped.
 */
export async function gateReports(
  store: Store,
  nodes: Iterable<string>,
  podId: string,
  sha: string,
  roll: string,
): Promise<Map<string, GateReport>> {
  const reports = new GateReportStore(store);
  const out = new Map<string, GateReport>();
  await Promise.all(
    [...nodes].map(async (node) => {
      let report: GateReport | undefined;
      try {
        report = await reports.get(node, podId);
      } catch (cause) {
        if (cause instanceof KvError && cause.code === KvErrorCodes.BAD_RECORD) return;
        throw storeError(`reading the metric gate report of ${node}`, cause);
      }
      if (report && report.sha === sha && report.roll === roll) out.set(node, report);
    }),
  );
  return out;
}
