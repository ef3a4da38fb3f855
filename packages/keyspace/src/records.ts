/**
 * Controller records (spec 01 §2.5, spec 03): replication controllers, rolling updates, daemon sets
 * and audit logs — one codec each, in P2's field order with Go's JSON escaping.
 */
import { randomUUID } from 'node:crypto';
import { formatRfc3339Nano, goJson, sortedMap } from '@p2/go';
import { assertUuid, KvError, KvErrorCodes, type Store, type TxnOp } from '@p2/kv';
import { type LabelSet, LabelsError, Selector } from '@p2/labels';
import { type Manifest, parseManifest } from '@p2/manifest';
import { type ReadProblem, text } from './json.js';
import { auditLogKey, Prefix } from './keys.js';

/** P2's two allocation strategies; any other string behaves like `static_strategy`. */
export type AllocationStrategy = 'dynamic_strategy' | 'static_strategy';

/** A replication controller as stored at `replication_controllers/<id>` (spec 01 §2.5, 03 §1.1). */
export interface RcRecord {
  readonly id: string;
  readonly manifest: Manifest;
  readonly nodeSelector: Selector;
  readonly podLabels: LabelSet;
  readonly replicasDesired: number;
  readonly disabled: boolean;
  /** `dynamic_strategy`, `static_strategy`, or whatever string was stored (P2 did not validate). */
  readonly allocationStrategy: string;
  /**
   * p2 extension (`topology_spread_key`, omitted when unset): spread replicas evenly across the
   * values of this node label (e.g. `availability_zone`).
   */
  readonly topologySpreadKey?: string | undefined;
  /**
   * p2 extension (`deployer_signature`, omitted when unset): a deployer's armored detached
   * signature over the record's delegation statement (see {@link delegationStatement}).
   */
  readonly deployerSignature?: string | undefined;
}

/** Shared with pod-clusters.ts. @internal */
export function recordError(key: string, message: string, cause?: unknown): KvError {
  return new KvError(KvErrorCodes.BAD_RECORD, `${key}: ${message}`, {
    cause,
    details: { key },
    hint: 'the record was written by something other than p2/P2, or by hand; fix or delete the key',
  });
}

/** Shared with pod-clusters.ts. @internal */
export function parseObject(value: string | Uint8Array, key: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text(value));
  } catch (cause) {
    throw recordError(key, `not valid JSON (${(cause as Error).message})`, cause);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw recordError(key, 'expected a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** Shared with pod-clusters.ts. @internal */
export function str(
  obj: Record<string, unknown>,
  field: string,
  key: string,
  required = false,
): string {
  const v = obj[field];
  if (v === undefined || v === null) {
    if (required) throw recordError(key, `the required field "${field}" is missing`);
    return '';
  }
  if (typeof v !== 'string')
    throw recordError(key, `"${field}" must be a string, found ${typeof v}`);
  return v;
}

/** Shared with pod-clusters.ts. @internal */
export function int(
  obj: Record<string, unknown>,
  field: string,
  key: string,
  required = false,
): number {
  const v = obj[field];
  if (v === undefined || v === null) {
    if (required) throw recordError(key, `the required field "${field}" is missing`);
    return 0;
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw recordError(key, `"${field}" must be an integer, found ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(obj: Record<string, unknown>, field: string, key: string): boolean {
  const v = obj[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean')
    throw recordError(key, `"${field}" must be true or false, found ${JSON.stringify(v)}`);
  return v;
}

function stringMap(
  obj: Record<string, unknown>,
  field: string,
  key: string,
): Record<string, string> {
  const v = obj[field];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw recordError(key, `"${field}" must be an object`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw recordError(key, `"${field}.${k}" must be a string`);
    out[k] = val;
  }
  return out;
}

function manifestField(obj: Record<string, unknown>, key: string): Manifest {
  const text = str(obj, 'manifest', key, true);
  if (text === '') throw recordError(key, 'the required field "manifest" is empty');
  try {
    return parseManifest(text, { source: key });
  } catch (cause) {
    throw recordError(key, `its manifest cannot be read: ${(cause as Error).message}`, cause);
  }
}

/** Shared with pod-clusters.ts. @internal */
export function selectorField(obj: Record<string, unknown>, field: string, key: string): Selector {
  try {
    return Selector.parse(str(obj, field, key));
  } catch (cause) {
    if (cause instanceof LabelsError) throw recordError(key, `"${field}": ${cause.message}`, cause);
    throw cause;
  }
}

/**
 * The JSON P2 stores for an RC: fields in P2's order, Go escaping.
 *
 * @example encodeRc(rc) // '{"id":"…","manifest":"id: hello\\n…","node_selector":"az=a","pod_labels":{},"replicas_desired":3,"disabled":false,"allocation_strategy":"static_strategy"}'
 */
export function encodeRc(rc: RcRecord): string {
  return goJson({
    id: rc.id,
    manifest: rc.manifest.text(),
    node_selector: rc.nodeSelector.toString(),
    pod_labels: sortedMap(rc.podLabels),
    replicas_desired: rc.replicasDesired,
    disabled: rc.disabled,
    allocation_strategy: rc.allocationStrategy,
    ...(rc.topologySpreadKey ? { topology_spread_key: rc.topologySpreadKey } : {}),
    ...(rc.deployerSignature ? { deployer_signature: rc.deployerSignature } : {}),
  });
}

/**
 * Reads an RC record. As P2: `replicas_desired` and `manifest` are required (a missing count must
 * never silently mean 0), the selector is re-parsed.
 *
 * @throws KvError `P2_KV_BAD_RECORD` naming the key and the field
 */
export function decodeRc(value: string | Uint8Array, key = 'replication controller'): RcRecord {
  const obj = parseObject(value, key);
  const spread = str(obj, 'topology_spread_key', key);
  const signature = str(obj, 'deployer_signature', key);
  return {
    id: str(obj, 'id', key, true),
    manifest: manifestField(obj, key),
    nodeSelector: selectorField(obj, 'node_selector', key),
    podLabels: stringMap(obj, 'pod_labels', key),
    replicasDesired: int(obj, 'replicas_desired', key, true),
    disabled: bool(obj, 'disabled', key),
    allocationStrategy: str(obj, 'allocation_strategy', key),
    ...(spread ? { topologySpreadKey: spread } : {}),
    ...(signature ? { deployerSignature: signature } : {}),
  };
}

/** How a rolling update trades capacity for speed (p2 extension; P2 only had `unavailable`). */
export type RollStrategy = 'unavailable' | 'surge';

/** A rolling update as stored at `rolls/<new RC id>` (Go field names, spec 03 §2.1) plus p2 extensions. */
export interface RollRecord {
  /** The RC being drained. */
  readonly oldRc: string;
  /** The RC being filled; also the update's id. */
  readonly newRc: string;
  /** The update is complete when the new RC has this many replicas. */
  readonly desiredReplicas: number;
  /** Healthy replicas (old + new) that must be kept throughout. */
  readonly minimumReplicas: number;
  /** Keep the old RC (disabled) at the end instead of deleting it. */
  readonly leaveOld: boolean;
  /** Pause between steps, in milliseconds (stored as Go nanoseconds). */
  readonly rollDelayMs: number;
  /** p2: `unavailable` (old before new, P2's behaviour) or `surge` (new before old). @default 'unavailable' */
  readonly strategy: RollStrategy;
  /** p2: how many replicas above the target may exist at once with `surge`. @default 1 */
  readonly maxSurge: number;
  /** p2: how many replicas one step may take away with `unavailable` (0 = no limit beyond min). @default 0 */
  readonly maxUnavailable: number;
  /** p2: fail when no new replica becomes healthy for this long, in ms (0 = never). @default 0 */
  readonly progressDeadlineMs: number;
  /** p2: on failure, move the replica counts back to the old RC. @default false */
  readonly autoRollback: boolean;
  /** p2: a paused update makes no steps until resumed. @default false */
  readonly paused: boolean;
  /**
   * p2 (issue 21): a new replica counts as healthy only once its preparer reports that the pod's
   * metrics held this gate for the soak time (`status/gates/<node>/<pod>`); one that fails it
   * fails the update.
   */
  readonly metricGate?: MetricGate;
}

/** A rolling update's metric gate, checked by each new replica's preparer (see `@p2/health`). */
export interface MetricGate {
  /** Path scraped on the pod's status port (scheme as its status check). */
  readonly path: string;
  /** The gate, e.g. `errors_total / requests_total < 0.05` (`@p2/health` `parseGateExpression`). */
  readonly expr: string;
  /** How long the gate must hold, in ms (stored as Go nanoseconds). */
  readonly soakMs: number;
}

const NS_PER_MS = 1_000_000;

/** Defaults for the p2 extension fields of a {@link RollRecord}. */
export const ROLL_DEFAULTS = {
  leaveOld: false,
  rollDelayMs: 0,
  strategy: 'unavailable',
  maxSurge: 1,
  maxUnavailable: 0,
  progressDeadlineMs: 0,
  autoRollback: false,
  paused: false,
} as const satisfies Partial<RollRecord>;

/** JSON for a rolling update: P2's six Go-named fields first, then p2's extensions. */
export function encodeRoll(ru: RollRecord): string {
  return goJson({
    OldRC: ru.oldRc,
    NewRC: ru.newRc,
    DesiredReplicas: ru.desiredReplicas,
    MinimumReplicas: ru.minimumReplicas,
    LeaveOld: ru.leaveOld,
    RollDelay: Math.round(ru.rollDelayMs * NS_PER_MS),
    Strategy: ru.strategy,
    MaxSurge: ru.maxSurge,
    MaxUnavailable: ru.maxUnavailable,
    ProgressDeadline: Math.round(ru.progressDeadlineMs * NS_PER_MS),
    AutoRollback: ru.autoRollback,
    Paused: ru.paused,
    ...(ru.metricGate
      ? {
          MetricGate: {
            Path: ru.metricGate.path,
            Expr: ru.metricGate.expr,
            Soak: Math.round(ru.metricGate.soakMs * NS_PER_MS),
          },
        }
      : {}),
  });
}

/**
 * Reads a rolling update record; records written by P2 (no extension fields) get the defaults.
 *
 * @throws KvError `P2_KV_BAD_RECORD`
 */
export function decodeRoll(value: string | Uint8Array, key = 'rolling update'): RollRecord {
  const obj = parseObject(value, key);
  const strategy = str(obj, 'Strategy', key) || ROLL_DEFAULTS.strategy;
  if (strategy !== 'unavailable' && strategy !== 'surge') {
    throw recordError(key, `"Strategy" must be "unavailable" or "surge", found "${strategy}"`);
  }
  return {
    oldRc: str(obj, 'OldRC', key, true),
    newRc: str(obj, 'NewRC', key, true),
    desiredReplicas: int(obj, 'DesiredReplicas', key),
    minimumReplicas: int(obj, 'MinimumReplicas', key),
    leaveOld: bool(obj, 'LeaveOld', key),
    rollDelayMs: int(obj, 'RollDelay', key) / NS_PER_MS,
    strategy,
    maxSurge: obj.MaxSurge === undefined ? ROLL_DEFAULTS.maxSurge : int(obj, 'MaxSurge', key),
    maxUnavailable: int(obj, 'MaxUnavailable', key),
    progressDeadlineMs: int(obj, 'ProgressDeadline', key) / NS_PER_MS,
    autoRollback: bool(obj, 'AutoRollback', key),
    paused: bool(obj, 'Paused', key),
    ...(obj.MetricGate === undefined || obj.MetricGate === null
      ? {}
      : { metricGate: metricGateField(obj.MetricGate, `${key} MetricGate`) }),
  };
}

function metricGateField(value: unknown, key: string): MetricGate {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw recordError(key, 'must be an object');
  const obj = value as Record<string, unknown>;
  const soakMs = int(obj, 'Soak', key) / NS_PER_MS;
  return { path: str(obj, 'Path', key, true), expr: str(obj, 'Expr', key, true), soakMs };
}

/** A daemon set as stored at `daemon_sets/<id>` (spec 01 §2.5, 03 §4.1). */
export interface DsRecord {
  readonly id: string;
  readonly disabled: boolean;
  readonly manifest: Manifest;
  /** Healthy replicas to keep while replacing (P2 stored it but never used it; p2 does). */
  readonly minHealth: number;
  readonly clusterName: string;
  readonly nodeSelector: Selector;
  /** Must equal the manifest id. */
  readonly podId: string;
  /** Per-node replication timeout in ms (stored as Go nanoseconds). */
  readonly timeoutMs: number;
  /** p2 extension (`deployer_signature`), as {@link RcRecord.deployerSignature}. */
  readonly deployerSignature?: string | undefined;
}

/** JSON for a daemon set, in P2's field order. */
export function encodeDs(ds: DsRecord): string {
  return goJson({
    id: ds.id,
    disabled: ds.disabled,
    manifest: ds.manifest.text(),
    min_health: ds.minHealth,
    cluster_name: ds.clusterName,
    node_selector: ds.nodeSelector.toString(),
    pod_id: ds.podId,
    timeout: Math.round(ds.timeoutMs * NS_PER_MS),
    ...(ds.deployerSignature ? { deployer_signature: ds.deployerSignature } : {}),
  });
}

/**
 * Reads a daemon set record; `pod_id` must equal the manifest id.
 *
 * @throws KvError `P2_KV_BAD_RECORD`
 */
export function decodeDs(value: string | Uint8Array, key = 'daemon set'): DsRecord {
  const obj = parseObject(value, key);
  const manifest = manifestField(obj, key);
  const podId = str(obj, 'pod_id', key);
  const signature = str(obj, 'deployer_signature', key);
  if (podId !== manifest.id) {
    throw recordError(key, `"pod_id" is "${podId}" but the manifest id is "${manifest.id}"`);
  }
  return {
    id: str(obj, 'id', key, true),
    disabled: bool(obj, 'disabled', key),
    manifest,
    minHealth: int(obj, 'min_health', key),
    clusterName: str(obj, 'cluster_name', key),
    nodeSelector: selectorField(obj, 'node_selector', key),
    podId,
    timeoutMs: int(obj, 'timeout', key) / NS_PER_MS,
    ...(signature ? { deployerSignature: signature } : {}),
  };
}

/** Audit event types (spec 03 §5.3). */
export type AuditEventType =
  | 'REPLICATION_CONTROLLER_RETARGET'
  | 'ROLLING_UPDATE_CREATION'
  | 'ROLLING_UPDATE_COMPLETION'
  | 'DAEMON_SET_CREATED'
  | 'DAEMON_SET_MANIFEST_UPDATED'
  | 'DAEMON_SET_NODE_SELECTOR_UPDATED'
  | 'DAEMON_SET_DELETED'
  | 'DAEMON_SET_ENABLED'
  | 'DAEMON_SET_DISABLED'
  | 'DAEMON_SET_MODIFIED'
  | 'NODE_TRANSFER_START'
  | 'NODE_TRANSFER_COMPLETION'
  | 'NODE_TRANSFER_ROLLBACK'
  | 'P2_BALANCER_START'
  | 'P2_BALANCER_COMPLETION'
  | 'P2_BALANCER_FAILURE';

/** An audit record as stored at `audit_logs/<uuid>`. */
export interface AuditRecord {
  readonly eventType: AuditEventType | string;
  readonly eventDetails: unknown;
  /** RFC 3339 with nanoseconds, as Go writes `time.Time`. */
  readonly timestamp: string;
  readonly schemaVersion: number;
}

/** JSON for an audit record (schema version always 1, as P2). */
export function encodeAudit(eventType: AuditEventType, details: unknown, now = new Date()): string {
  return goJson({
    event_type: eventType,
    event_details: details,
    timestamp: formatRfc3339Nano(now),
    schema_version: 1,
  });
}

/** Reads an audit record. @throws KvError `P2_KV_BAD_RECORD` */
export function decodeAudit(value: string | Uint8Array, key = 'audit record'): AuditRecord {
  const obj = parseObject(value, key);
  return {
    eventType: str(obj, 'event_type', key, true),
    eventDetails: obj.event_details,
    timestamp: str(obj, 'timestamp', key),
    schemaVersion: int(obj, 'schema_version', key),
  };
}

/**
 * A txn op creating an audit record at a fresh `audit_logs/<uuid>` (P2 wrote them only inside
 * transactions). Returns the new id too.
 *
 * @example auditLogOp('DAEMON_SET_ENABLED', { daemon_set: {…}, user: 'ops' }).op // { verb: 'set', key: 'audit_logs/<uuid>', value: '{"event_type":…}' }
 */
export function auditLogOp(
  eventType: AuditEventType,
  details: unknown,
  now = new Date(),
): { id: string; op: TxnOp & { verb: 'set' } } {
  const id = randomUUID();
  return {
    id,
    op: { verb: 'set', key: auditLogKey(id), value: encodeAudit(eventType, details, now) },
  };
}

/** Audit records (`audit_logs/<uuid>`); created and deleted inside transactions, as P2 did. */
export class AuditLogStore {
  constructor(private readonly store: Store) {}

  /** A txn op creating a record (schema_version 1); see {@link auditLogOp}. */
  createOp(
    eventType: AuditEventType,
    eventDetails: unknown,
    now = new Date(),
  ): { id: string; op: TxnOp } {
    return auditLogOp(eventType, eventDetails, now);
  }

  /** A txn op deleting a record. @throws KvError `P2_KV_INVALID_KEY` for an id that is not a uuid */
  deleteOp(id: string): TxnOp {
    assertUuid('audit log id', id);
    return { verb: 'delete', key: auditLogKey(id) };
  }

  /** id → record; keys that are not `audit_logs/<uuid>` and unreadable records are reported. */
  async list(): Promise<{ records: Map<string, AuditRecord>; problems: ReadProblem[] }> {
    const { value: entries } = await this.store.list(Prefix.auditLogs);
    const records = new Map<string, AuditRecord>();
    const problems: ReadProblem[] = [];
    for (const entry of entries) {
      try {
        const id = entry.key.slice(Prefix.auditLogs.length);
        assertUuid('audit log id', id);
        records.set(id, decodeAudit(entry.value, entry.key));
      } catch (error) {
        problems.push({ key: entry.key, error: error as KvError });
      }
    }
    return { records, problems };
  }
}
