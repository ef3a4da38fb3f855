/**
 * `p2 describe POD`: one pod across the nodes it is on — its manifest (launchables and versions),
 * per node the intent and reality SHAs, verdict, health, the preparer's state and processes, and
 * the node's recent events (deploy steps with times, failures, refusals, exits, restarts, health
 * transitions, hook failures) and deployed revisions, from `events/` and `history/`.
 */
import { type PodEvent, PodEventStore, PodHistoryStore, type PodRevision } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { inspectStore, type LaunchableVersion, type PodInspection } from './inspect.js';

/** One node of a {@link PodDescription}. */
export interface NodeDescription {
  node: string;
  /** Set for uuid pods, else null (as every field here that is not known). */
  uniqueKey: string | null;
  verdict: PodInspection['verdict'];
  intentSha: string | null;
  realitySha: string | null;
  health: string | null;
  /** The preparer's state (`running`, `deploying`, `failed`…) and its error, if any. */
  state: string | null;
  error: string | null;
  /** What runs there, by launchable (from reality, else intent). */
  versions: Record<string, LaunchableVersion> | null;
  processes: NonNullable<NonNullable<PodInspection['status']>['processes']>;
  /** The last events on the node, oldest first. */
  events: PodEvent[];
  /** Revisions kept in the node's history (`p2 history`), newest last: number, time and SHA. */
  revisions: Array<{ rev: number; time: string; sha: string }>;
}

/** What {@link describePod} returns. */
export interface PodDescription {
  pod: string;
  /** The intended launchables (from the first node's intent). */
  launchables: Record<string, LaunchableVersion> | null;
  nodes: NodeDescription[];
  /** Records that could not be read (key and message). */
  problems: Array<{ key: string; error: string }>;
}

/**
 * Describes a pod (by id, or a uuid pod by its unique key) on every node it is on, or one node.
 *
 * @param options.events how many of each node's latest events to include (default 20)
 * @throws the store's `KvError` when the store cannot be read
 * @example
 * ```ts
 * const { nodes } = await describePod(store, 'hello');
 * nodes[0]?.events.filter((e) => e.type === 'exit');
 * ```
 */
export async function describePod(
  store: Store,
  pod: string,
  options: { node?: string; events?: number } = {},
): Promise<PodDescription> {
  const { pods, problems } = await inspectStore(store, {
    pod,
    launchables: true,
    ...(options.node ? { node: options.node } : {}),
  });
  const eventStore = new PodEventStore(store);
  const history = new PodHistoryStore(store);
  const limit = options.events ?? 20;
  const nodes: NodeDescription[] = [];
  const read = async <T>(key: string, f: () => Promise<T[]>): Promise<T[]> => {
    try {
      return await f();
    } catch (error) {
      // inspectStore reported an unreadable event ring already.
      if (!problems.some((p) => p.key === key))
        problems.push({ key, error: (error as Error).message });
      return [];
    }
  };
  for (const row of pods) {
    const key = row.uniqueKey ?? row.pod;
    const events = await read(eventStore.key(row.node, key), () => eventStore.list(row.node, key));
    const revisions = await read(history.key(row.node, key), () => history.list(row.node, key));
    const versions = row.realityLaunchables ?? row.intentLaunchables;
    nodes.push({
      node: row.node,
      uniqueKey: row.uniqueKey ?? null,
      verdict: row.verdict,
      intentSha: row.intentSha ?? null,
      realitySha: row.realitySha ?? null,
      health: row.health ?? null,
      state: row.status?.state ?? null,
      error: row.status?.error ?? null,
      versions: versions ?? null,
      processes: row.status?.processes ?? [],
      events: limit > 0 ? events.slice(-limit) : [],
      revisions: revisions.map(({ rev, time, sha }) => ({ rev, time, sha })),
    });
  }
  const launchables = pods.find((p) => p.intentLaunchables)?.intentLaunchables;
  return { pod, launchables: launchables ?? null, nodes, problems };
}

/** One node's kept revisions of a pod ({@link podHistory}). */
export interface NodeHistory {
  node: string;
  /** The SHA intent holds now on that node (to mark the current revision); null when none. */
  intentSha: string | null;
  revisions: PodRevision[];
}

/**
 * The kept revisions of a legacy pod on each node it is on (or on one node), oldest first.
 *
 * @throws the store's `KvError` when the store cannot be read
 * @example
 * ```ts
 * const [{ revisions }] = await podHistory(store, 'hello', { node: 'h1' });
 * ```
 */
export async function podHistory(
  store: Store,
  pod: string,
  options: { node?: string } = {},
): Promise<NodeHistory[]> {
  const history = new PodHistoryStore(store);
  const nodes = options.node
    ? [
        {
          node: options.node,
          intentSha: (await inspectStore(store, { pod, node: options.node })).pods[0]?.intentSha,
        },
      ]
    : (await inspectStore(store, { pod })).pods.map((p) => ({
        node: p.node,
        intentSha: p.intentSha,
      }));
  const out: NodeHistory[] = [];
  for (const { node, intentSha } of nodes)
    out.push({
      node,
      intentSha: intentSha ?? null,
      revisions: await history.list(node, pod),
    });
  return out;
}
