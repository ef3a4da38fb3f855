/**
 * Status records the controllers publish: an RC's at
 * `status/replication_controllers/<id>/replication_controller` (P2's format, byte for byte), and
 * p2 extensions beside P2's records — a rolling update's at `status/rolls/<id>/rolling_update`, a
 * daemon set's at `status/daemon_sets/<id>/daemon_set_farm`. Plain JSON in the field order below;
 * read back as written (no field checks beyond the RC record's shape, as p2 always did).
 */
import { goJson } from '@p2/go';
import { KvError, KvErrorCodes } from '@p2/kv';
import { text } from './json.js';

/** A replica an RC is moving off a node that no longer matches its selector (P2's `NodeTransfer`). */
export interface RcNodeTransfer {
  /** The ineligible node the replica left. */
  readonly old_node: string;
  /** The node it was moved to. */
  readonly new_node: string;
  /** A UUID naming this transfer. */
  readonly id: string;
}

/**
 * An RC's status record (P2's `rcstatus.Status`): `node_transfer` while a replica is being moved,
 * absent otherwise. P2's Go type held it as a pointer with `omitempty`, so "no transfer" is the
 * nil pointer and encodes as `{}` (a non-nil pointer to an empty transfer would have printed three
 * empty strings, which P2 never meant).
 */
export interface RcStatus {
  readonly node_transfer?: RcNodeTransfer;
}

/**
 * The JSON of an RC's status as P2 wrote it (Go field order and escaping): `{}` without a transfer.
 * With `indent`, as `p2-rctl get-status` printed it (`json.MarshalIndent`).
 *
 * @example encodeRcStatus({ node_transfer: { old_node: 'a', new_node: 'b', id: 'u' } }) // '{"node_transfer":{"old_node":"a","new_node":"b","id":"u"}}'
 */
export function encodeRcStatus(status: RcStatus, indent?: string): string {
  const t = status.node_transfer;
  return goJson(
    t ? { node_transfer: { old_node: t.old_node, new_node: t.new_node, id: t.id } } : {},
    indent,
  );
}

/**
 * Reads an RC's status record; unknown fields are dropped and a `null` transfer is no transfer, as
 * Go's decoder did.
 *
 * @throws KvError `P2_KV_BAD_RECORD` when the value is not a JSON object or `node_transfer` is not
 *   an object of three strings.
 * @example decodeRcStatus('{}') // {}
 */
export function decodeRcStatus(value: string | Uint8Array, key = 'RC status'): RcStatus {
  const t = parseStatus(value, key).node_transfer;
  if (t === undefined || t === null) return {};
  const fields = t as Record<string, unknown>;
  if (
    typeof t !== 'object' ||
    Array.isArray(t) ||
    !['old_node', 'new_node', 'id'].every(
      (f) => (fields[f] ?? '') === '' || typeof fields[f] === 'string',
    )
  ) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${key}: node_transfer is not a node transfer`, {
      details: { key },
      hint: 'delete the status key; the RC farm writes a fresh one',
    });
  }
  const str = (f: string) => (typeof fields[f] === 'string' ? (fields[f] as string) : '');
  return { node_transfer: { old_node: str('old_node'), new_node: str('new_node'), id: str('id') } };
}

/** Health-relevant counts of one RC during a rolling update (spec 03 §2.5). */
export interface RcNodeCounts {
  /** `replicas_desired`. */
  desired: number;
  /** Pods labelled with the RC id. */
  current: number;
  /** Current pods whose reality matches the RC manifest. */
  real: number;
  /** Real pods whose health is `passing`. */
  healthy: number;
  /** Real pods with `warning` or `critical`. */
  unhealthy: number;
  /** Real pods with `unknown` or no result, plus desired pods not yet labelled. */
  unknown: number;
}

/** Where a rolling update is (p2 extension; P2 had no states). */
export type RollState = 'rolling' | 'paused' | 'succeeded' | 'failed' | 'rolled_back' | 'cancelled';

/** The status record of a rolling update, at `status/rolls/<id>/rolling_update`. */
export interface RollStatus {
  readonly state: RollState;
  readonly message: string;
  /** The old RC's replica count when the update first ran (what a rollback restores). */
  readonly originalOldReplicas: number;
  /** Old + new replica counts when the update first ran (what `surge` converges back to). */
  readonly originalTotal: number;
  readonly startedAt: string;
  readonly lastProgressAt: string;
  readonly updatedAt: string;
  readonly old?: RcNodeCounts;
  readonly new?: RcNodeCounts;
}

/**
 * The status record of a daemon set (`status/daemon_sets/<id>/daemon_set_farm`): P2's three fields,
 * plus when each unsettled node got the manifest (ms since the epoch) and which ones are past the
 * timeout.
 */
export interface DsStatus {
  readonly manifest_sha: string;
  readonly nodes_deployed: number;
  readonly replication_in_progress: boolean;
  readonly replacing?: Record<string, number>;
  readonly nodes_timed_out?: string[];
}

/**
 * The JSON of a rolling update's status; absent counts are omitted.
 *
 * @example encodeRollStatus(status) // '{"state":"rolling","message":"started","originalOldReplicas":3,…}'
 */
export function encodeRollStatus(status: RollStatus): string {
  return JSON.stringify({
    state: status.state,
    message: status.message,
    originalOldReplicas: status.originalOldReplicas,
    originalTotal: status.originalTotal,
    startedAt: status.startedAt,
    lastProgressAt: status.lastProgressAt,
    updatedAt: status.updatedAt,
    old: status.old,
    new: status.new,
  });
}

/**
 * Reads a rolling update's status record as written.
 *
 * @throws KvError `P2_KV_BAD_RECORD` when the value is not a JSON object.
 * @example decodeRollStatus(entry.value, entry.key).state // 'rolling'
 */
export function decodeRollStatus(
  value: string | Uint8Array,
  key = 'rolling update status',
): RollStatus {
  return parseStatus(value, key) as unknown as RollStatus;
}

/**
 * The JSON of a daemon set's status, in P2's field order then p2's additions.
 *
 * @example encodeDsStatus({ manifest_sha: 'ab…', nodes_deployed: 2, replication_in_progress: false }) // '{"manifest_sha":"ab…","nodes_deployed":2,"replication_in_progress":false}'
 */
export function encodeDsStatus(status: DsStatus): string {
  return JSON.stringify({
    manifest_sha: status.manifest_sha,
    nodes_deployed: status.nodes_deployed,
    replication_in_progress: status.replication_in_progress,
    replacing: status.replacing,
    nodes_timed_out: status.nodes_timed_out,
  });
}

/**
 * Reads a daemon set's status record as written.
 *
 * @throws KvError `P2_KV_BAD_RECORD` when the value is not a JSON object.
 * @example decodeDsStatus(entry.value, entry.key).nodes_deployed // 2
 */
export function decodeDsStatus(value: string | Uint8Array, key = 'daemon set status'): DsStatus {
  return parseStatus(value, key) as unknown as DsStatus;
}

function parseStatus(value: string | Uint8Array, key: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text(value));
  } catch (cause) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${key}: not valid JSON`, {
      cause,
      details: { key },
      hint: 'delete the status key; the next run writes a fresh one',
    });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${key}: expected a JSON object`, {
      details: { key },
      hint: 'delete the status key; the next run writes a fresh one',
    });
  }
  return parsed as Record<string, unknown>;
}
