/**
 * The nodes a store knows (`p2 nodes`): every node with a preparer (its heartbeat, its status
 * records, or pods in its reality, which only a preparer writes), plus nodes that are only labelled or only have intent
 * (shown as `no-preparer`) — with labels, pod counts, verdicts and when a preparer last wrote.
 */
import { LabelStore, type PreparerNodeStatus, PreparerStatusStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { closest, distance } from 'fastest-levenshtein';
import { type Inspection, inspectStore, type PodInspection } from './inspect.js';

/** A preparer whose heartbeat is older than this many beats is `stale`. */
const STALE_BEATS = 3;

/** One node as `p2 nodes` lists it. */
export interface NodeView {
  node: string;
  /**
   * `ready` (every pod converged, or none to run), `degraded` (a pod failed or crash-loops),
   * `converging` (the rest), `stale` (its preparer's heartbeat is older than 3 beats: it stopped
   * reporting), `no-preparer` (no preparer ever reported here: intent or labels only).
   */
  status: 'ready' | 'degraded' | 'converging' | 'stale' | 'no-preparer';
  /** Whether a preparer ever reported here (heartbeat, status records or reality). */
  preparer: boolean;
  /** The preparer's version and start time, from its heartbeat. */
  version?: string;
  started?: string;
  labels: Record<string, string>;
  /** Pods in intent and in reality on the node. */
  pods: { intent: number; reality: number };
  /** How many pods have each verdict. */
  verdicts: Partial<Record<PodInspection['verdict'], number>>;
  /** The latest of the preparer's heartbeat and its status records' `updated` (ISO 8601), if any. */
  lastSeen?: string;
}

function statusOf(
  preparer: boolean,
  pods: PodInspection[],
  beat: PreparerNodeStatus | undefined,
  now: Date,
): NodeView['status'] {
  if (!preparer) return 'no-preparer';
  if (beat && now.getTime() - Date.parse(beat.seen) > STALE_BEATS * beat.heartbeatMs)
    return 'stale';
  if (pods.some((p) => ['failed', 'crashlooping', 'reverted'].includes(p.verdict)))
    return 'degraded';
  if (pods.every((p) => p.verdict === 'converged')) return 'ready';
  return 'converging';
}

/**
 * Every node the store knows, by name. Pass an {@link Inspection} already read to avoid reading
 * the pods again; `now` is what heartbeats are judged stale against.
 *
 * @example (await listNodes(store)).filter((n) => n.preparer).map((n) => n.node)
 */
export async function listNodes(
  store: Store,
  inspection?: Inspection,
  now = new Date(),
): Promise<NodeView[]> {
  const [pods, labelled, beats] = await Promise.all([
    inspection ?? inspectStore(store),
    new LabelStore(store).list('node'),
    new PreparerStatusStore(store).nodes(),
  ]);
  const names = new Set([
    ...pods.pods.map((p) => p.node),
    ...labelled.map((l) => l.id),
    ...beats.keys(),
  ]);
  return [...names].sort().map((node) => {
    const here = pods.pods.filter((p) => p.node === node);
    const beat = beats.get(node);
    const preparer =
      beat !== undefined || here.some((p) => p.status !== undefined || p.realitySha !== undefined);
    const verdicts: NodeView['verdicts'] = {};
    for (const p of here) verdicts[p.verdict] = (verdicts[p.verdict] ?? 0) + 1;
    const seen = here.flatMap((p) => (p.status?.updated ? [p.status.updated] : []));
    if (beat) seen.push(beat.seen);
    const lastSeen = seen.sort()[seen.length - 1];
    return {
      node,
      status: statusOf(preparer, here, beat, now),
      preparer,
      ...(beat?.version ? { version: beat.version } : {}),
      ...(beat ? { started: beat.started } : {}),
      labels: { ...labelled.find((l) => l.id === node)?.labels },
      pods: {
        intent: here.filter((p) => p.intentSha !== undefined).length,
        reality: here.filter((p) => p.realitySha !== undefined).length,
      },
      verdicts,
      ...(lastSeen ? { lastSeen } : {}),
    };
  });
}

/**
 * Known names close to `name` (a typo's "did you mean"): the nearest by edit distance, and any
 * other within a third of the name's length, nearest first.
 *
 * @example suggestNodes('vm-typo', ['vm-type', 'db-1']) // ['vm-type']
 */
export function suggestNodes(name: string, known: readonly string[]): string[] {
  if (known.length === 0) return [];
  const limit = Math.max(2, Math.ceil(name.length / 3));
  const near = known
    .map((k) => ({ k, d: distance(name, k) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || a.k.localeCompare(b.k))
    .map((x) => x.k);
  return near.length > 0 ? near.slice(0, 3) : [closest(name, [...known])];
}
