/**
 * Status records: P2's `status/<type>/<id>/<namespace>` tree (spec 01 §2.6) and p2's own records
 * beside it — the preparer's per-pod state (`status/preparer/<node>/<pod>`), a rolling update's
 * progress and a daemon set's status.
 */
import { goJson } from '@p2/go';
import {
  assertSegment,
  type Indexed,
  type KvEntry,
  KvError,
  KvErrorCodes,
  type Store,
  type TxnOp,
} from '@p2/kv';
import { asObject, parseJsonValue } from './json.js';
import {
  idFromKey,
  Prefix,
  preparerNodeKey,
  preparerStatusKey,
  preparerStatusPrefix,
} from './keys.js';

/** One entry of a pod status's `process_status`: the last exit of one launchable's entry point. */
export type ProcessExit = NonNullable<PodStatus['process_status']>[number] & {
  last_exit: NonNullable<NonNullable<PodStatus['process_status']>[number]['last_exit']>;
};

/**
 * `status` with each exit recorded as P2's exit reporter did: the `process_status` entry of the
 * same launchable and entry point gets the exit, else one is appended. Unlike P2, whose update of
 * an existing entry changed a copy (so only the first exit ever showed), the latest exit wins.
 * Returns undefined when nothing changes.
 *
 * @example withProcessExits({ process_status: null, status: 'launched', manifest: '…' },
 *   [{ launchable_id: 'app', entry_point: 'bin/launch', last_exit: { time, exit_code: 3, exit_status: 0 } }])
 */
export function withProcessExits(
  status: PodStatus,
  exits: readonly ProcessExit[],
): PodStatus | undefined {
  const entries = [...(status.process_status ?? [])];
  let changed = false;
  for (const exit of exits) {
    const at = entries.findIndex(
      (e) => e.launchable_id === exit.launchable_id && e.entry_point === exit.entry_point,
    );
    if (at >= 0 && JSON.stringify(entries[at]?.last_exit) === JSON.stringify(exit.last_exit))
      continue;
    if (at >= 0) entries[at] = { ...(entries[at] as ProcessExit), last_exit: exit.last_exit };
    else entries.push(exit);
    changed = true;
  }
  return changed ? { ...status, process_status: entries } : undefined;
}

/** The JSON of a {@link PodStatus} as P2 wrote it (Go field order and escaping). */
export function encodePodStatus(status: PodStatus): string {
  return goJson(status);
}

/** Status record types (spec 01 §2.6). */
export type StatusType = 'pods' | 'replication_controllers' | 'daemon_sets' | 'pod_clusters';
const STATUS_TYPES = new Set<StatusType>([
  'pods',
  'replication_controllers',
  'daemon_sets',
  'pod_clusters',
]);

/** A pod status record (`status/pods/<uuid>/preparer`), Go field order. */
export interface PodStatus {
  process_status:
    | {
        launchable_id: string;
        entry_point: string;
        last_exit: { time: string; exit_code: number; exit_status: number } | null;
      }[]
    | null;
  status: 'launched' | 'removed' | 'failed' | '';
  manifest: string;
}

/** `status/<type>/<id>/<namespace>` JSON records. */
export class StatusStore {
  constructor(private readonly store: Store) {}

  key(type: StatusType, id: string, namespace: string): string {
    if (!STATUS_TYPES.has(type)) {
      throw new KvError(KvErrorCodes.INVALID_KEY, `unknown status type ${JSON.stringify(type)}`, {
        hint: `use one of ${[...STATUS_TYPES].join(', ')}`,
      });
    }
    assertSegment('status id', id);
    assertSegment('status namespace', namespace);
    return `${Prefix.status}${type}/${id}/${namespace}`;
  }

  /** The record (`undefined` when absent) with the index to CAS against. */
  async get(
    type: StatusType,
    id: string,
    namespace: string,
  ): Promise<Indexed<Record<string, unknown> | undefined>> {
    const { value: entry, index } = await this.store.get(this.key(type, id, namespace));
    return { value: entry ? asObject(entry) : undefined, index };
  }

  async set(type: StatusType, id: string, namespace: string, record: object): Promise<void> {
    await this.store.put(this.key(type, id, namespace), goJson(record));
  }

  /** A txn `cas` at `index` (0 = create) — how the preparer records `launched`/`removed`. */
  casOp(type: StatusType, id: string, namespace: string, record: object, index: number): TxnOp {
    return { verb: 'cas', key: this.key(type, id, namespace), value: goJson(record), index };
  }

  /**
   * Records process exits in a uuid pod's `status/pods/<uuid>/preparer` ({@link withProcessExits}),
   * with a CAS so a concurrent write (the preparer's launch transaction) is never lost.
   * @returns `recorded`; `unchanged`; `absent` (no such record: P2 only ever updated an existing
   *   one); `conflict` when the record changed meanwhile (try again)
   */
  async recordProcessExits(
    uuid: string,
    exits: readonly ProcessExit[],
  ): Promise<'recorded' | 'unchanged' | 'absent' | 'conflict'> {
    const { value, index } = await this.get('pods', uuid, 'preparer');
    if (!value) return 'absent';
    const next = withProcessExits(value as unknown as PodStatus, exits);
    if (!next) return 'unchanged';
    const key = this.key('pods', uuid, 'preparer');
    return (await this.store.cas(key, encodePodStatus(next), index)) ? 'recorded' : 'conflict';
  }

  async delete(type: StatusType, id: string, namespace: string): Promise<void> {
    await this.store.delete(this.key(type, id, namespace));
  }
}

// ---- the preparer's per-pod state (a p2 extension) ---------------------------------------------

/** One service of a running pod, as reported in its state record. */
export interface ProcessReport {
  service: string;
  launchable: string;
  state: 'run' | 'down' | 'finish' | 'unknown';
  pid?: number;
  lastExit?: { time: string; exitCode: number | null; signal: number | null };
}

/** The preparer's per-pod state record, at `status/preparer/<node>/<pod or uuid>`. */
export interface PreparerPodStatus {
  pod: string;
  uniqueKey: string;
  /**
   * `reverted`: the version of intent (`sha`) did not get healthy in time, so the preparer went back
   * to the previous one (`revertedTo`) and will not try `sha` again until intent changes.
   */
  state: 'running' | 'deploying' | 'failed' | 'invalid' | 'unauthorized' | 'removed' | 'reverted';
  sha?: string;
  /** `reverted`: the SHA that runs instead. */
  revertedTo?: string;
  error?: string;
  code?: string;
  attempt?: number;
  /** The pod's runit services: state, pid, and the last exit the finish script recorded. */
  processes?: ProcessReport[];
  /** When the preparer wrote it (ISO 8601). */
  updated: string;
}

/** The JSON the preparer writes for a {@link PreparerPodStatus} (plain `JSON.stringify`). */
export function encodePreparerStatus(status: PreparerPodStatus): string {
  return JSON.stringify(status);
}

/**
 * Reads a preparer state record leniently: any JSON object with a string `state`.
 *
 * @throws KvError `P2_KV_BAD_RECORD` (message: not a status record)
 */
export function decodePreparerStatus(
  value: string | Uint8Array,
  key = 'preparer status',
): PreparerPodStatus {
  const parsed = parseJsonValue(value, key);
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    typeof (parsed as { state?: unknown }).state !== 'string'
  ) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${key}: not a status record`, {
      details: { key },
    });
  }
  return parsed as PreparerPodStatus;
}

/**
 * A preparer's heartbeat, at `status/nodes/<node>/preparer`: written when it starts (before any
 * pod) and every `heartbeatMs` after, so a node whose preparer runs is known before it deploys
 * anything, and a node whose preparer stopped reporting can be told apart (`p2 nodes`: `stale`).
 */
export interface PreparerNodeStatus {
  node: string;
  /** The preparer's version (its package version), when it knows it. */
  version?: string;
  /** When this preparer process started (ISO 8601). */
  started: string;
  /** When it last wrote this record (ISO 8601). */
  seen: string;
  /** How often it writes it (ms), so a reader can tell a missed heartbeat. */
  heartbeatMs: number;
}

function decodeNodeStatus(entry: KvEntry): PreparerNodeStatus | undefined {
  try {
    const parsed = parseJsonValue(entry.value, entry.key) as Partial<PreparerNodeStatus> | null;
    if (typeof parsed?.seen !== 'string' || typeof parsed.heartbeatMs !== 'number')
      return undefined;
    return parsed as PreparerNodeStatus;
  } catch {
    return undefined;
  }
}

/**
 * The preparer's state records: one per pod per node, keyed by the pod's uniqueKey (uuid pods) or
 * id (legacy pods); a removed pod's record is deleted.
 */
export class PreparerStatusStore {
  constructor(private readonly store: Store) {}

  /** `status/preparer/<node>/<uniqueKey or pod>`. */
  key(node: string, status: Pick<PreparerPodStatus, 'pod' | 'uniqueKey'>): string {
    return preparerStatusKey(node, status.uniqueKey || status.pod);
  }

  /** Writes the record, or deletes it when the pod was removed. */
  async publish(node: string, status: PreparerPodStatus): Promise<void> {
    const key = this.key(node, status);
    if (status.state === 'removed') await this.store.delete(key);
    else await this.store.put(key, encodePreparerStatus(status));
  }

  /** {@link PreparerStatusStore.publish} as a transaction operation (committed with other writes). */
  publishOp(node: string, status: PreparerPodStatus): TxnOp {
    const key = this.key(node, status);
    return status.state === 'removed'
      ? { verb: 'delete', key }
      : { verb: 'set', key, value: encodePreparerStatus(status) };
  }

  /** Every record of one node (or of every node); `entries` keep their keys for the caller. */
  async list(node?: string): Promise<KvEntry[]> {
    return (await this.store.list(preparerStatusPrefix(node))).value;
  }

  /** Writes the node's heartbeat record (one put). */
  async heartbeat(status: PreparerNodeStatus): Promise<void> {
    await this.store.put(preparerNodeKey(status.node), JSON.stringify(status));
  }

  /** Every node's heartbeat record, by node; records that do not read as one are skipped. */
  async nodes(): Promise<Map<string, PreparerNodeStatus>> {
    const prefix = preparerNodeKey();
    const found = new Map<string, PreparerNodeStatus>();
    for (const entry of (await this.store.list(prefix)).value) {
      const rest = entry.key.slice(prefix.length);
      const node = rest.endsWith('/preparer')
        ? idFromKey('', rest.slice(0, -'/preparer'.length))
        : undefined;
      const status = node ? decodeNodeStatus(entry) : undefined;
      if (node && status) found.set(node, { ...status, node });
    }
    return found;
  }
}
