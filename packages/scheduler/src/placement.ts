import type { LabelSet } from '@p2/labels';
import { type Manifest, parseByteCount } from '@p2/manifest';

/** CPUs and memory a pod asks for, or a node offers. */
export interface Resources {
  /** Logical CPUs (fractions allowed). */
  cpus: number;
  /** Bytes. */
  memory: number;
}

/** Node labels that declare capacity (values like `8` and `16G`; any unit `parseByteCount` reads). */
export const CapacityLabel = {
  CPUS: 'p2.capacity/cpus',
  MEMORY: 'p2.capacity/memory',
} as const;

/**
 * What a pod needs: `resource_limits.cgroup` when set, else the sum of its launchables' `cgroup`
 * limits. 0 means "not declared" (such a pod always fits).
 *
 * @example podDemand(parseManifest('id: a\nresource_limits:\n  cgroup: {cpus: 2, memory: 1G}\nlaunchables: {}\n')) // { cpus: 2, memory: 1073741824 }
 */
export function podDemand(manifest: Manifest): Resources {
  const pod = manifest.resourceLimits;
  if (pod && (pod.cpus > 0 || pod.memory > 0)) return { cpus: pod.cpus, memory: pod.memory };
  let cpus = 0;
  let memory = 0;
  for (const l of Object.values(manifest.launchables)) {
    cpus += l.cgroup?.cpus ?? 0;
    memory += l.cgroup?.memory ?? 0;
  }
  return { cpus, memory };
}

/**
 * A node's capacity from its labels ({@link CapacityLabel}); a dimension without a (readable)
 * label is unlimited (`Infinity`).
 */
export function nodeCapacity(labels: LabelSet): Resources {
  const cpuText = labels[CapacityLabel.CPUS];
  const memText = labels[CapacityLabel.MEMORY];
  const cpus = cpuText === undefined ? Number.NaN : Number(cpuText);
  const memory = memText === undefined ? undefined : parseByteCount(memText);
  return {
    cpus: Number.isFinite(cpus) && cpus >= 0 ? cpus : Number.POSITIVE_INFINITY,
    memory: memory !== undefined && memory >= 0 ? memory : Number.POSITIVE_INFINITY,
  };
}

/** A node the scheduler may place on. */
export interface CandidateNode {
  readonly name: string;
  readonly labels: LabelSet;
  /** Resources already promised to other pods on this node. @default none */
  readonly used?: Resources;
  /** True when the node already runs this pod id for another controller (placing would replace it). */
  readonly occupied?: boolean;
  /** What the node offers, when known from elsewhere (e.g. resources its agent reports); else its capacity labels. */
  readonly capacity?: Resources;
}

/** What {@link placeReplicas} should do. */
export interface PlacementRequest {
  readonly candidates: readonly CandidateNode[];
  /** How many new replicas to place. */
  readonly count: number;
  /** What one replica needs. */
  readonly demand: Resources;
  /** Spread replicas evenly over the values of this node label. */
  readonly spreadKey?: string | undefined;
  /** Nodes already running this controller's replicas (they count toward the spread). */
  readonly existing?: readonly CandidateNode[];
}

/** The outcome of {@link placeReplicas}. */
export interface Placement {
  /** Chosen node names, in placement order. */
  readonly nodes: string[];
  /** Candidates left out because the replica would not fit, with the reason. */
  readonly unfit: { node: string; reason: string }[];
}

function fits(node: CandidateNode, demand: Resources): string | undefined {
  const cap = node.capacity ?? nodeCapacity(node.labels);
  const used = node.used ?? { cpus: 0, memory: 0 };
  if (demand.cpus > 0 && used.cpus + demand.cpus > cap.cpus + 1e-9) {
    return `needs ${demand.cpus} cpus, ${Math.max(0, cap.cpus - used.cpus)} of ${cap.cpus} free`;
  }
  if (demand.memory > 0 && used.memory + demand.memory > cap.memory) {
    return `needs ${demand.memory} bytes of memory, ${Math.max(0, cap.memory - used.memory)} of ${cap.memory} free`;
  }
  return undefined;
}

/**
 * Chooses nodes for new replicas: only nodes with room for `demand`; then the least-used value of
 * `spreadKey` (nodes without the label form their own group, `''`); then nodes that do not already
 * run this pod id for another controller; then node name (P2's deterministic sorted fill).
 *
 * @example placeReplicas({ candidates: [{ name: 'a', labels: { az: '1' } }, { name: 'b', labels: { az: '1' } }, { name: 'c', labels: { az: '2' } }], count: 2, demand: { cpus: 0, memory: 0 }, spreadKey: 'az' }).nodes // ['a', 'c']
 */
export function placeReplicas(request: PlacementRequest): Placement {
  const { demand, spreadKey } = request;
  const unfit: { node: string; reason: string }[] = [];
  const pool: CandidateNode[] = [];
  for (const node of request.candidates) {
    const reason = fits(node, demand);
    if (reason === undefined) pool.push(node);
    else unfit.push({ node: node.name, reason });
  }
  const domainOf = (n: CandidateNode): string => (spreadKey ? (n.labels[spreadKey] ?? '') : '');
  const perDomain = new Map<string, number>();
  for (const n of request.existing ?? []) {
    const d = domainOf(n);
    perDomain.set(d, (perDomain.get(d) ?? 0) + 1);
  }
  pool.sort((a, b) => {
    if (!!a.occupied !== !!b.occupied) return a.occupied ? 1 : -1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  const nodes: string[] = [];
  const taken = new Set<number>();
  for (let i = 0; i < request.count; i++) {
    let best = -1;
    let bestCount = Number.POSITIVE_INFINITY;
    for (let j = 0; j < pool.length; j++) {
      if (taken.has(j)) continue;
      const count = spreadKey ? (perDomain.get(domainOf(pool[j]!)) ?? 0) : 0;
      if (count < bestCount) {
        best = j;
        bestCount = count;
        if (count === 0 && !spreadKey) break;
      }
    }
    if (best < 0) break;
    taken.add(best);
    const node = pool[best]!;
    nodes.push(node.name);
    const d = domainOf(node);
    perDomain.set(d, (perDomain.get(d) ?? 0) + 1);
  }
  return { nodes, unfit };
}
