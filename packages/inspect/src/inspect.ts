/**
 * The join behind `p2 inspect` and `p2 watch`: for every node and pod, the intent SHA, the reality
 * SHA, the health record (`health/<pod>/<node>`) and the preparer's own status record
 * (`status/preparer/<node>/<pod>`, a p2 extension). Reusable by any tool that reads a store.
 */
import {
  decodePodEvents,
  decodePreparerStatus,
  HealthStore,
  type PodEvent,
  type PodRecord,
  PodTree,
  type PodTreeName,
  Prefix,
  type PreparerPodStatus,
  parsePreparerStatusKey,
  podTreeKey,
  preparerStatusPrefix,
} from '@p2/keyspace';
import type { KvEntry, Store } from '@p2/kv';
import { type LaunchableExits, launchableExits } from './processes.js';

/** The preparer's per-pod status record (its one codec is in `@p2/keyspace`). */
export type PreparerStatus = PreparerPodStatus;

/** One row of the inspection: one pod on one node. */
export interface PodInspection {
  node: string;
  /** The pod id (manifest id). */
  pod: string;
  /** Set for uuid pods. */
  uniqueKey?: string;
  intentSha?: string;
  realitySha?: string;
  /** With `launchables: true`: launchable id → location and version, per side (for P2's format). */
  intentLaunchables?: Record<string, LaunchableVersion>;
  realityLaunchables?: Record<string, LaunchableVersion>;
  /** `passing`, `warning`, `critical`, `unknown`, or absent when nothing was reported. */
  health?: string;
  status?: PreparerStatus;
  /** Per launchable that exited since the pod was deployed here: restarts and the last exit. */
  exits?: LaunchableExits[];
  /**
   * A one-word summary: `converged` (intent = reality), `deploying`, `failed` (the preparer says so),
   * `crashlooping` (a launchable exited 3 times or more within the last 5 minutes, see
   * `CRASHLOOP_EXITS`; runit keeps restarting it), `pending` (intent not yet in reality),
   * `removing` (reality without intent), `reverted` (the intended version did not get healthy in
   * time, so the preparer went back to the previous one and will not retry it until intent
   * changes), `unknown`.
   */
  verdict:
    | 'converged'
    | 'crashlooping'
    | 'deploying'
    | 'failed'
    | 'pending'
    | 'removing'
    | 'reverted'
    | 'unknown';
}

/** What {@link inspectStore} found: one row per pod and node, and what could not be read. */
export interface Inspection {
  pods: PodInspection[];
  /** Records that could not be read (key and message). */
  problems: Array<{ key: string; error: string }>;
}

/** Which pods {@link inspectStore} reports. */
export interface InspectFilter {
  /** Only this node (reads only its subtrees). */
  node?: string;
  /** Only this pod id, or this uuid pod's unique key. */
  pod?: string;
  /** Also collect each side's launchable locations and versions. */
  launchables?: boolean;
  /** The time recent exits are counted back from. @default now */
  now?: Date;
}

/** A launchable's artifact location and version (from the manifest). */
export interface LaunchableVersion {
  location: string;
  version: string;
}

function sha(
  record: PodRecord,
  problems: Inspection['problems'],
  tree: PodTreeName,
): { id: string; sha?: string; launchables?: Record<string, LaunchableVersion> } {
  try {
    const manifest = record.manifest();
    const launchables: Record<string, LaunchableVersion> = {};
    for (const [id, stanza] of Object.entries(manifest.launchables)) {
      launchables[id] = { location: stanza.location, version: manifest.launchableVersion(id) };
    }
    return { id: manifest.id, sha: manifest.sha(), launchables };
  } catch (error) {
    problems.push({
      key: podTreeKey(tree, record.node, record.podId),
      error: (error as Error).message,
    });
    return { id: record.podId };
  }
}

function parseStatus(entry: KvEntry, problems: Inspection['problems']): PreparerStatus | undefined {
  try {
    return decodePreparerStatus(entry.value, entry.key);
  } catch (error) {
    problems.push({ key: entry.key, error: (error as Error).message });
    return undefined;
  }
}

function verdictOf(
  row: Omit<PodInspection, 'verdict'>,
  crashlooping: boolean,
): PodInspection['verdict'] {
  const state = row.status?.state;
  if (row.intentSha === undefined) return row.realitySha === undefined ? 'unknown' : 'removing';
  if (state === 'failed' || state === 'invalid' || state === 'unauthorized') {
    if (row.status?.sha === undefined || row.status.sha === row.intentSha) return 'failed';
  }
  if (state === 'reverted' && row.status?.sha === row.intentSha) return 'reverted';
  if (crashlooping) return 'crashlooping';
  if (row.realitySha === row.intentSha) return 'converged';
  if (state === 'deploying') return 'deploying';
  return 'pending';
}

/**
 * Reads intent, reality, health and preparer status and joins them per node and pod, sorted by node,
 * pod and unique key, each with a verdict. Unreadable records do not fail the call: they are listed
 * in `problems` (key and message).
 *
 * @throws the store's `KvError` when the store cannot be read
 *
 * @example
 * ```ts
 * const { pods } = await inspectStore(store, { node: 'h1' });
 * pods.filter((p) => p.verdict === 'failed');
 * ```
 */
export async function inspectStore(store: Store, filter: InspectFilter = {}): Promise<Inspection> {
  const problems: Inspection['problems'] = [];
  const read = async (tree: 'intent' | 'reality') => {
    const pods = new PodTree(store, tree);
    const result = filter.node ? await pods.listPods(filter.node) : await pods.listAll();
    for (const p of result.problems) problems.push({ key: p.key, error: p.error.message });
    return result.pods;
  };
  const [intent, reality, statusEntries, healthEntries, eventEntries] = await Promise.all([
    read('intent'),
    read('reality'),
    store.list(preparerStatusPrefix(filter.node || undefined)),
    store.list(Prefix.health),
    store.list(filter.node ? `${Prefix.events}${filter.node}/` : Prefix.events),
  ]);
  const events = new Map<string, PodEvent[]>();
  for (const entry of eventEntries.value) {
    const parts = entry.key.split('/');
    if (parts.length !== 3) continue;
    try {
      events.set(`${parts[1]}\u0000${parts[2]}`, decodePodEvents(entry.value, entry.key));
    } catch (error) {
      problems.push({ key: entry.key, error: (error as Error).message });
    }
  }
  const rows = new Map<string, Omit<PodInspection, 'verdict'>>();
  const rowFor = (node: string, key: string, pod: string, uniqueKey?: string) => {
    const id = `${node}\u0000${key}`;
    let row = rows.get(id);
    if (!row) {
      row = { node, pod, ...(uniqueKey ? { uniqueKey } : {}) };
      rows.set(id, row);
    }
    return row;
  };
  for (const record of intent) {
    const { id, sha: s, launchables } = sha(record, problems, 'intent');
    const row = rowFor(record.node, record.uniqueKey ?? record.podId, id, record.uniqueKey);
    row.pod = id;
    if (s) row.intentSha = s;
    if (filter.launchables && launchables) row.intentLaunchables = launchables;
  }
  for (const record of reality) {
    const { id, sha: s, launchables } = sha(record, problems, 'reality');
    const row = rowFor(record.node, record.uniqueKey ?? record.podId, id, record.uniqueKey);
    if (row.intentSha === undefined) row.pod = id;
    if (s) row.realitySha = s;
    if (filter.launchables && launchables) row.realityLaunchables = launchables;
  }
  for (const entry of statusEntries.value) {
    const where = parsePreparerStatusKey(entry.key);
    if (!where) continue;
    const status = parseStatus(entry, problems);
    if (!status) continue;
    const row = rowFor(where.node, where.pod, status.pod, status.uniqueKey || undefined);
    row.status = status;
  }
  const health = new Map<string, string>();
  for (const entry of healthEntries.value) {
    const parts = entry.key.split('/');
    if (parts.length !== 3) continue;
    try {
      health.set(`${parts[2]}\u0000${parts[1]}`, HealthStore.decode(entry).status);
    } catch (error) {
      problems.push({ key: entry.key, error: (error as Error).message });
    }
  }
  const pods: PodInspection[] = [];
  const now = filter.now ?? new Date();
  for (const row of rows.values()) {
    if (filter.pod && row.pod !== filter.pod && row.uniqueKey !== filter.pod) continue;
    const h = health.get(`${row.node}\u0000${row.pod}`);
    const exits = launchableExits(
      row.status,
      events.get(`${row.node}\u0000${row.uniqueKey ?? row.pod}`) ?? [],
      now,
    );
    const full = {
      ...row,
      ...(h ? { health: h } : {}),
      ...(exits.launchables.length > 0 ? { exits: exits.launchables } : {}),
    };
    pods.push({ ...full, verdict: verdictOf(full, exits.crashlooping) });
  }
  pods.sort((a, b) =>
    a.node === b.node
      ? a.pod === b.pod
        ? (a.uniqueKey ?? '').localeCompare(b.uniqueKey ?? '')
        : a.pod.localeCompare(b.pod)
      : a.node.localeCompare(b.node),
  );
  return { pods, problems };
}

/**
 * P2's p2-inspect status object (spec 03 §6.1), for scripts written against P2: the manifest SHAs
 * are always there (`""` for a side the pod is not on), `health` only when a health record exists,
 * the versions only for a side the pod is on. Maps are built with sorted keys, as Go printed them.
 */
export interface P2InspectStatus {
  intent_manifest_sha: string;
  reality_manifest_sha: string;
  intent_versions?: Record<string, { location: string; version: { id: string } }>;
  reality_versions?: Record<string, { location: string; version: { id: string } }>;
  health?: string;
  intent_locations: string[];
  reality_locations: string[];
}

const byKey = (a: [string, unknown], b: [string, unknown]) =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;

function p2Versions(launchables: Record<string, LaunchableVersion> | undefined) {
  if (!launchables) return undefined;
  const out: Record<string, { location: string; version: { id: string } }> = {};
  for (const [id, l] of Object.entries(launchables).sort(byKey))
    out[id] = { location: l.location, version: { id: l.version } };
  return out;
}

function p2Status(row: PodInspection): P2InspectStatus {
  const intent = p2Versions(row.intentLaunchables);
  const reality = p2Versions(row.realityLaunchables);
  return {
    intent_manifest_sha: row.intentSha ?? '',
    reality_manifest_sha: row.realitySha ?? '',
    ...(intent ? { intent_versions: intent } : {}),
    ...(reality ? { reality_versions: reality } : {}),
    ...(row.health ? { health: row.health } : {}),
    intent_locations: Object.values(row.intentLaunchables ?? {})
      .map((l) => l.location)
      .sort(),
    reality_locations: Object.values(row.realityLaunchables ?? {})
      .map((l) => l.location)
      .sort(),
  };
}

/** P2's `--format tree`: `{pod_id: {node: status}}` (legacy pods only, as P2), keys sorted. */
export function p2InspectTree(
  inspection: Inspection,
): Record<string, Record<string, P2InspectStatus>> {
  const tree: Record<string, Record<string, P2InspectStatus>> = {};
  const rows = inspection.pods
    .filter((row) => !row.uniqueKey)
    .sort((a, b) => byKey([a.pod, 0], [b.pod, 0]) || byKey([a.node, 0], [b.node, 0]));
  for (const row of rows) {
    tree[row.pod] ??= {};
    (tree[row.pod] as Record<string, P2InspectStatus>)[row.node] = p2Status(row);
  }
  return tree;
}

/** P2's `--format list`: status objects that also carry `node` and `pod`, by node and pod. */
export function p2InspectList(
  inspection: Inspection,
): Array<{ node: string; pod: string } & P2InspectStatus> {
  return inspection.pods
    .filter((r) => !r.uniqueKey)
    .map((r) => ({ node: r.node, pod: r.pod, ...p2Status(r) }));
}
