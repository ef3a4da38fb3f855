/**
 * What the dashboard shows, read through `@p2/inspect` and `@p2/keyspace` in the shapes the CLI
 * prints with `--json` (camelCase, null for unknown), and the difference between two reads.
 */
import {
  inspectionJson,
  inspectRolls,
  inspectStore,
  listDaemonSets,
  listNodes,
  listRcs,
} from '@p2/inspect';
import { LabelStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';

/** One row of the fleet: `p2 inspect --json`'s row plus its key and the pod's labels. */
export type FleetRow = ReturnType<typeof inspectionJson>['pods'][number] & {
  /** `<node>/<pod id or unique key>`: unique per row. */
  key: string;
  labels: Record<string, string>;
};

/** The sections of a {@link FleetSnapshot} that are lists of records, and each record's key field. */
const SECTIONS = {
  pods: 'key',
  nodes: 'node',
  problems: 'key',
  rcs: 'id',
  rolls: 'id',
  daemonSets: 'id',
} as const;

type Section = keyof typeof SECTIONS;

/** Everything the dashboard's live views show, at one time. */
export interface FleetSnapshot {
  /** When it was read (ISO 8601). */
  time: string;
  pods: FleetRow[];
  /** `p2 nodes --json`'s records. */
  nodes: Array<Record<string, unknown> & { node: string }>;
  /** Records that could not be read: the key and what is wrong (shown, never fatal). */
  problems: Array<{ key: string; error: string }>;
  rcs: Array<Record<string, unknown> & { id: string }>;
  rolls: Array<Record<string, unknown> & { id: string }>;
  daemonSets: Array<Record<string, unknown> & { id: string }>;
}

/**
 * The change from one snapshot to the next: per section, records added or changed (`upsert`) and
 * the keys of records gone (`remove`); sections without a change are absent.
 */
export interface FleetDiff {
  time: string;
  sections: Partial<Record<Section, { upsert: unknown[]; remove: string[] }>>;
}

/** Reads a whole {@link FleetSnapshot}. @throws the store's `KvError` when the store cannot be read */
export async function readFleet(store: Store, now = new Date()): Promise<FleetSnapshot> {
  // Without launchables: the fleet rows stay small (the pod view reads them per pod).
  const inspection = await inspectStore(store, { now });
  const labelStore = new LabelStore(store);
  const [nodes, podLabels, rcs, rolls, daemonSets] = await Promise.all([
    listNodes(store, inspection, now),
    labelStore.list('pod'),
    listRcs(store),
    inspectRolls(store),
    listDaemonSets(store),
  ]);
  const labelsOf = new Map<string, Record<string, string>>();
  // Pod label ids are `<node>/<pod id>` (legacy pods) or the uuid (uuid pods).
  for (const record of podLabels) labelsOf.set(record.id, { ...record.labels });
  const json = inspectionJson(inspection);
  const pods = json.pods.map((row) => {
    const key = `${row.node}/${row.uniqueKey ?? row.pod}`;
    return { ...row, key, labels: labelsOf.get(row.uniqueKey ?? key) ?? {} };
  });
  return {
    time: now.toISOString(),
    pods,
    nodes: nodes.map((n) => ({
      ...n,
      version: n.version ?? null,
      started: n.started ?? null,
      lastSeen: n.lastSeen ?? null,
    })),
    problems: [
      ...json.problems,
      ...rcs.errors.map((e) => ({ key: String(e.details.key ?? e.code), error: e.message })),
    ],
    rcs: rcs.rcs.map((rc) => ({ ...rc })),
    rolls: rolls.map((r) => ({ id: r.id, roll: r.roll, status: r.status })),
    daemonSets: daemonSets.map((ds) => ({ ...ds })),
  };
}

/** Each record's JSON by key, per section: what {@link diffFleet} compares. */
export type FleetIndex = Record<Section, Map<string, string>>;

/** Indexes a snapshot for {@link diffFleet}. */
export function indexFleet(snapshot: FleetSnapshot): FleetIndex {
  const index = {} as FleetIndex;
  for (const section of Object.keys(SECTIONS) as Section[]) {
    const field = SECTIONS[section];
    const map = new Map<string, string>();
    for (const record of snapshot[section] as Array<Record<string, unknown>>) {
      map.set(String(record[field]), JSON.stringify(record));
    }
    index[section] = map;
  }
  return index;
}

/** What changed from `before` to `after`, or undefined when nothing did. */
export function diffFleet(
  before: FleetIndex,
  after: FleetIndex,
  time: string,
): FleetDiff | undefined {
  const sections: FleetDiff['sections'] = {};
  let changed = false;
  for (const section of Object.keys(SECTIONS) as Section[]) {
    const upsert: unknown[] = [];
    const remove: string[] = [];
    for (const [key, json] of after[section]) {
      if (before[section].get(key) !== json) upsert.push(JSON.parse(json));
    }
    for (const key of before[section].keys()) if (!after[section].has(key)) remove.push(key);
    if (upsert.length > 0 || remove.length > 0) {
      sections[section] = { upsert, remove };
      changed = true;
    }
  }
  return changed ? { time, sections } : undefined;
}
