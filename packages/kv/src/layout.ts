/**
 * P2's key layout (spec 01 §2, spec 03 §0.1) as typed stores with P2's exact paths and value
 * formats, so existing tools interoperate. Writing is strict (keys, pod ids and uuids are validated);
 * reading is lenient (whatever exists is returned, malformed entries are reported, never thrown).
 */

import { randomUUID } from 'node:crypto';
import { goJson } from '@p2/go';
import { type Manifest, parseManifest } from '@p2/manifest';
import { KvError, KvErrorCodes } from './errors.js';
import { assertSegment, assertUuid, looksLikeUuid, toBytes } from './keys.js';
import type { Indexed, KvEntry, Store, TxnOp } from './types.js';
import { type WatchOptions, watchPrefix } from './watch.js';

const decoder = new TextDecoder();

function decodeJson(entry: KvEntry): unknown {
  try {
    return JSON.parse(decoder.decode(entry.value));
  } catch (cause) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${entry.key} does not hold valid JSON`, {
      cause,
      details: { key: entry.key },
    });
  }
}

function asObject(entry: KvEntry): Record<string, unknown> {
  const value = decodeJson(entry);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${entry.key} must hold a JSON object`, {
      details: { key: entry.key },
    });
  }
  return value as Record<string, unknown>;
}

/** A problem found while reading (the entry was skipped, the rest is returned). */
export interface ReadProblem {
  key: string;
  error: KvError;
}

/** The lock keys P2 uses (spec 03 §0.1). */
export const lockKeys = {
  replicationController: (rc: string) => `lock/replication_controllers/${rc}`,
  replicationControllerUpdate: (rc: string) => `lock/replication_controllers/${rc}/update`,
  replicationControllerUpdateCreation: (rc: string) =>
    `lock/replication_controllers/${rc}/update_creation`,
  replicationControllerNodeTransfer: (rc: string) =>
    `lock/replication_controllers/${rc}/node_transfer`,
  roll: (ru: string) => `lock/rolls/${ru}`,
  daemonSet: (ds: string) => `lock/daemon_sets/${ds}`,
  replication: (podId: string) => `lock/replication/${podId}`,
  podClusterCreation: (podId: string, az: string, cluster: string) =>
    `lock/${podId}/${az}/${cluster}`,
  podClusterSyncer: (pc: string, syncerType: string) => `lock/pod_clusters/${pc}/${syncerType}`,
} as const;

// ---- intent / reality ------------------------------------------------------------------------

/** A pod found under `intent/<node>/` or `reality/<node>/`. */
export interface PodRecord {
  node: string;
  /** The pod id (legacy pods) or the uuid (uuid pods, then `uniqueKey` is set too). */
  podId: string;
  /** Set for uuid pods. */
  uniqueKey: string | undefined;
  /** The manifest bytes exactly as stored. */
  raw: Uint8Array;
  modifyIndex: number;
  /** Parses `raw` (lenient, as P2 read it). @throws ManifestError */
  manifest(): Manifest;
}

/** A node's pods plus what could not be read. */
export interface NodePods {
  pods: PodRecord[];
  problems: ReadProblem[];
  index: number;
}

function podRecord(
  node: string,
  podId: string,
  uniqueKey: string | undefined,
  raw: Uint8Array,
  modifyIndex: number,
): PodRecord {
  let parsed: Manifest | undefined;
  return {
    node,
    podId,
    uniqueKey,
    raw,
    modifyIndex,
    manifest: () => {
      parsed ??= parseManifest(raw, { source: `${node}/${podId}` });
      return parsed;
    },
  };
}

/**
 * The intent (`intent/<node>/<pod>`) or reality (`reality/<node>/<pod>`) tree. Legacy pods hold the
 * manifest bytes; uuid pods hold `{"pod_key":"<uuid>"}`, resolved through `pods/<uuid>` (intent) or
 * the pod status record's `manifest` (reality).
 *
 * @example
 * ```ts
 * const intent = new PodTree(store, 'intent');
 * await intent.setPod('node1', parseManifest(yamlBytes));   // PUT intent/node1/<id> = raw bytes
 * const { pods } = await intent.listPods('node1');
 * ```
 */
export class PodTree {
  constructor(
    private readonly store: Store,
    readonly tree: 'intent' | 'reality',
  ) {}

  /** `intent/<node>/<podId>` @throws KvError `P2_KV_INVALID_KEY` */
  key(node: string, podId: string): string {
    assertSegment('node name', node);
    assertSegment('pod id', podId);
    return `${this.tree}/${node}/${podId}`;
  }

  private checkLegacyId(podId: string): void {
    if (looksLikeUuid(podId)) {
      throw new KvError(
        KvErrorCodes.INVALID_KEY,
        `pod id ${JSON.stringify(podId)} looks like a UUID; P2 readers would take it for a uuid-pod index`,
        { hint: 'rename the pod, or schedule it as a uuid pod', details: { podId } },
      );
    }
  }

  /** Writes a legacy pod: the manifest's raw bytes, verbatim, at `<tree>/<node>/<manifest.id>`. */
  async setPod(node: string, manifest: Manifest): Promise<void> {
    this.checkLegacyId(manifest.id);
    await this.store.put(this.key(node, manifest.id), manifest.raw);
  }

  /** The same write as a transaction op. */
  setPodOp(node: string, manifest: Manifest): TxnOp {
    this.checkLegacyId(manifest.id);
    return { verb: 'set', key: this.key(node, manifest.id), value: manifest.raw };
  }

  /** Deletes `<tree>/<node>/<podId>` (a missing key is fine). */
  async deletePod(node: string, podId: string): Promise<void> {
    await this.store.delete(this.key(node, podId));
  }

  /** One legacy pod's stored bytes, with the index to CAS against ("mutate pod"). */
  async getPod(node: string, podId: string): Promise<Indexed<PodRecord | undefined>> {
    const { value: entry, index } = await this.store.get(this.key(node, podId));
    return {
      value: entry ? podRecord(node, podId, undefined, entry.value, entry.modifyIndex) : undefined,
      index,
    };
  }

  /** CAS-writes a pod at the index of a previous `getPod` (0 = only if absent). */
  casPodOp(node: string, manifest: Manifest, index: number): TxnOp {
    this.checkLegacyId(manifest.id);
    return { verb: 'cas', key: this.key(node, manifest.id), value: manifest.raw, index };
  }

  /** Every pod of a node (trailing slash: `web1` does not see `web10`, unlike P2's watch). */
  async listPods(node: string): Promise<NodePods> {
    assertSegment('node name', node);
    const { value: entries, index } = await this.store.list(`${this.tree}/${node}/`);
    return { ...(await this.resolve(entries)), index };
  }

  /** Watches a node's pods; yields the full set on every change. */
  async *watchNode(
    node: string,
    options: WatchOptions = {},
  ): AsyncGenerator<NodePods, void, undefined> {
    assertSegment('node name', node);
    for await (const { value: entries, index } of watchPrefix(
      this.store,
      `${this.tree}/${node}/`,
      options,
    )) {
      yield { ...(await this.resolve(entries)), index };
    }
  }

  /** Every pod on every node. */
  async listAll(): Promise<NodePods> {
    const { value: entries, index } = await this.store.list(`${this.tree}/`);
    return { ...(await this.resolve(entries)), index };
  }

  private async resolve(entries: KvEntry[]): Promise<Omit<NodePods, 'index'>> {
    const pods: PodRecord[] = [];
    const problems: ReadProblem[] = [];
    const uuids = new UuidPodStore(this.store);
    const status = new StatusStore(this.store);
    for (const entry of entries) {
      const parts = entry.key.split('/');
      if (parts.length !== 3 || !parts[1] || !parts[2]) {
        problems.push({
          key: entry.key,
          error: new KvError(
            KvErrorCodes.BAD_RECORD,
            `${entry.key}: expected ${this.tree}/<node>/<pod id>`,
            {
              details: { key: entry.key },
            },
          ),
        });
        continue;
      }
      const [, node, last] = parts as [string, string, string];
      if (!looksLikeUuid(last)) {
        pods.push(podRecord(node, last, undefined, entry.value, entry.modifyIndex));
        continue;
      }
      try {
        const podKey = String(asObject(entry).pod_key ?? last);
        let raw: Uint8Array | undefined;
        if (this.tree === 'intent') raw = (await uuids.readPod(podKey))?.manifest;
        else {
          const record = (await status.get('pods', podKey, 'preparer')).value;
          raw = typeof record?.manifest === 'string' ? toBytes(record.manifest) : undefined;
        }
        if (!raw)
          throw new KvError(
            KvErrorCodes.BAD_RECORD,
            `${entry.key}: uuid pod ${podKey} has no manifest`,
          );
        pods.push(podRecord(node, podKey, podKey, raw, entry.modifyIndex));
      } catch (error) {
        problems.push({
          key: entry.key,
          error:
            error instanceof KvError
              ? error
              : new KvError(KvErrorCodes.BAD_RECORD, `${entry.key}: ${String(error)}`, {
                  cause: error,
                }),
        });
      }
    }
    return { pods, problems };
  }
}

/** `pods/<uuid>` = `{"manifest":"<raw>","node":"<node>"}` plus the intent index (spec 01 §2.3). */
export class UuidPodStore {
  constructor(private readonly store: Store) {}

  /**
   * Schedules a uuid pod: PUT `pods/<uuid>`, then PUT `intent/<node>/<uuid>` = `{"pod_key":"<uuid>"}`.
   * If the second write fails the first is deleted (best effort), as P2 did.
   */
  async schedule(node: string, manifest: Manifest): Promise<string> {
    assertSegment('node name', node);
    const uuid = randomUUID();
    await this.store.put(`pods/${uuid}`, goJson({ manifest: decoder.decode(manifest.raw), node }));
    try {
      await this.store.put(`intent/${node}/${uuid}`, goJson({ pod_key: uuid }));
    } catch (error) {
      await this.store.delete(`pods/${uuid}`).catch(() => undefined);
      throw error;
    }
    return uuid;
  }

  /** Reads `pods/<uuid>`; `undefined` when absent. @throws KvError `P2_KV_BAD_RECORD` */
  async readPod(uuid: string): Promise<{ manifest: Uint8Array; node: string } | undefined> {
    const { value: entry } = await this.store.get(`pods/${uuid}`);
    if (!entry) return undefined;
    const record = asObject(entry);
    if (typeof record.manifest !== 'string' || typeof record.node !== 'string') {
      throw new KvError(
        KvErrorCodes.BAD_RECORD,
        `${entry.key} must hold {"manifest": string, "node": string}`,
        {
          details: { key: entry.key },
        },
      );
    }
    return { manifest: toBytes(record.manifest), node: record.node };
  }

  /** Deletes `pods/<uuid>` then its intent index. */
  async unschedule(uuid: string): Promise<void> {
    assertUuid('pod unique key', uuid);
    const pod = await this.readPod(uuid);
    if (!pod) return;
    await this.store.delete(`pods/${uuid}`);
    try {
      await this.store.delete(`intent/${pod.node}/${uuid}`);
    } catch (error) {
      throw new KvError(
        KvErrorCodes.UNAVAILABLE,
        `pod ${uuid} was deleted but its intent index was not`,
        {
          cause: error,
          hint: `delete intent/${pod.node}/${uuid} by hand`,
        },
      );
    }
  }

  /** The reality-index op the preparer commits with the pod status after launch. */
  realityIndexOp(node: string, uuid: string): TxnOp {
    assertSegment('node name', node);
    assertUuid('pod unique key', uuid);
    return { verb: 'set', key: `reality/${node}/${uuid}`, value: goJson({ pod_key: uuid }) };
  }
}

// ---- status ------------------------------------------------------------------------------------

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
    return `status/${type}/${id}/${namespace}`;
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

  async delete(type: StatusType, id: string, namespace: string): Promise<void> {
    await this.store.delete(this.key(type, id, namespace));
  }
}

// ---- health ------------------------------------------------------------------------------------

/** Health states, worst to best. */
export const HEALTH_STATES = ['critical', 'unknown', 'warning', 'passing'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

/** `health/<podId>/<node>` (Go field names on the wire: Id, Node, Service, Status, Time, Expires). */
export interface HealthRecord {
  podId: string;
  node: string;
  service: string;
  status: HealthState;
  /** RFC 3339 time of the last status change. */
  time: string;
  expires: string;
}

/** Health records written by preparers and read by checkers and controllers. */
export class HealthStore {
  constructor(private readonly store: Store) {}

  key(podId: string, node: string): string {
    assertSegment('pod id', podId);
    assertSegment('node name', node);
    return `health/${podId}/${node}`;
  }

  static encode(record: HealthRecord): string {
    return goJson({
      Id: record.podId,
      Node: record.node,
      Service: record.service,
      Status: record.status,
      Time: record.time,
      Expires: record.expires,
    });
  }

  /** Decodes case-insensitively; an unknown status string reads as `unknown`. */
  static decode(entry: KvEntry): HealthRecord {
    const raw = asObject(entry);
    const field = (name: string): string => {
      for (const [k, v] of Object.entries(raw))
        if (k.toLowerCase() === name) return String(v ?? '');
      return '';
    };
    const status = field('status') as HealthState;
    return {
      podId: field('id'),
      node: field('node'),
      service: field('service'),
      status: HEALTH_STATES.includes(status) ? status : 'unknown',
      time: field('time'),
      expires: field('expires'),
    };
  }

  /**
   * Writes a record. With `session`, the write is an `acquire` (the key vanishes with the session),
   * as P2's first write under a session was; later writes may be plain puts.
   * @returns false when the key is held by another session
   */
  async put(record: HealthRecord, options: { session?: string } = {}): Promise<boolean> {
    const key = this.key(record.podId, record.node);
    const value = HealthStore.encode(record);
    if (options.session) return this.store.acquire(key, value, options.session);
    await this.store.put(key, value);
    return true;
  }

  /** One pod on one node; `undefined` when absent (P2 synthesised `unknown`). */
  async get(podId: string, node: string): Promise<HealthRecord | undefined> {
    const { value: entry } = await this.store.get(this.key(podId, node));
    return entry ? HealthStore.decode(entry) : undefined;
  }

  /** node → record for one pod (lists `health/<podId>/`). */
  async forPod(podId: string): Promise<Map<string, HealthRecord>> {
    assertSegment('pod id', podId);
    const { value: entries } = await this.store.list(`health/${podId}/`);
    const out = new Map<string, HealthRecord>();
    for (const entry of entries) {
      try {
        out.set(entry.key.slice(`health/${podId}/`.length), HealthStore.decode(entry));
      } catch {
        // unreadable records are skipped, as P2 did
      }
    }
    return out;
  }

  async delete(podId: string, node: string): Promise<void> {
    await this.store.delete(this.key(podId, node));
  }
}

// ---- labels ------------------------------------------------------------------------------------

/** Label types P2 accepts (`replication_controller` is singular, unlike the RC tree). */
export const LABEL_TYPES = [
  'pod',
  'node',
  'pod_clusters',
  'replication_controller',
  'rolls',
] as const;
export type LabelType = (typeof LABEL_TYPES)[number];

/** A label set with the ModifyIndex to CAS against (0 when absent). */
export interface LabelRecord {
  type: LabelType;
  id: string;
  labels: Record<string, string>;
  modifyIndex: number;
}

/**
 * Raw label records at `labels/<type>/<id>`. For selectors, batching and transaction ops use
 * `LabelStore` from `@p2/labels`, which builds on the same records.
 */
export class RawLabelStore {
  constructor(private readonly store: Store) {}

  /** Pod label ids are `<node>/<podId>` for legacy pods, so ids may contain one `/`. */
  key(type: LabelType, id: string): string {
    if (!LABEL_TYPES.includes(type)) {
      throw new KvError(KvErrorCodes.INVALID_KEY, `unknown label type ${JSON.stringify(type)}`, {
        hint: `use one of ${LABEL_TYPES.join(', ')}`,
      });
    }
    const parts = id.split('/');
    if (parts.length > (type === 'pod' ? 2 : 1)) {
      throw new KvError(
        KvErrorCodes.INVALID_KEY,
        `invalid ${type} label id ${JSON.stringify(id)}: too many '/'`,
      );
    }
    for (const part of parts) assertSegment('label id', part);
    return `labels/${type}/${id}`;
  }

  private static decode(type: LabelType, entry: KvEntry): LabelRecord {
    const raw = asObject(entry);
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) labels[k] = String(v);
    return {
      type,
      id: entry.key.split('/').slice(2).join('/'),
      labels,
      modifyIndex: entry.modifyIndex,
    };
  }

  async get(type: LabelType, id: string): Promise<LabelRecord> {
    const { value: entry } = await this.store.get(this.key(type, id));
    return entry ? RawLabelStore.decode(type, entry) : { type, id, labels: {}, modifyIndex: 0 };
  }

  /** Every label set of a type; malformed records are reported in `problems`. */
  async list(type: LabelType): Promise<{ records: LabelRecord[]; problems: ReadProblem[] }> {
    if (!LABEL_TYPES.includes(type)) this.key(type, 'x');
    const { value: entries } = await this.store.list(`labels/${type}/`);
    const records: LabelRecord[] = [];
    const problems: ReadProblem[] = [];
    for (const entry of entries) {
      try {
        records.push(RawLabelStore.decode(type, entry));
      } catch (error) {
        problems.push({ key: entry.key, error: error as KvError });
      }
    }
    return { records, problems };
  }

  /**
   * P2's mutation: read, apply, then CAS at the read ModifyIndex — or delete-CAS when the set became
   * empty. Retries up to `retries` times on a lost race.
   * @throws KvError `P2_KV_CAS_FAILED` when every attempt lost the race.
   */
  async mutate(
    type: LabelType,
    id: string,
    change: (labels: Record<string, string>) => Record<string, string>,
    retries = 0,
  ): Promise<Record<string, string>> {
    for (let attempt = 0; attempt <= retries; attempt++) {
      const current = await this.get(type, id);
      const next = change({ ...current.labels });
      const key = this.key(type, id);
      const ok =
        Object.keys(next).length === 0
          ? current.modifyIndex === 0 || (await this.store.deleteCas(key, current.modifyIndex))
          : await this.store.cas(key, goJson(next), current.modifyIndex);
      if (ok) return next;
    }
    throw new KvError(
      KvErrorCodes.CAS_FAILED,
      `labels of ${type}/${id} changed concurrently ${retries + 1} time(s)`,
      {
        hint: 'retry the operation',
      },
    );
  }

  /** Removes every label (plain DELETE). */
  async removeAll(type: LabelType, id: string): Promise<void> {
    await this.store.delete(this.key(type, id));
  }
}

// ---- controller records ------------------------------------------------------------------------

/**
 * JSON records keyed by uuid under one tree (`replication_controllers/`, `rolls/`, `daemon_sets/`,
 * `pod_clusters/`): create-if-absent, read with index, read-modify-CAS, delete-CAS. The record's
 * meaning belongs to `@p2/rc`; this keeps P2's storage protocol.
 */
export class RecordStore<T extends object> {
  constructor(
    private readonly store: Store,
    readonly prefix: 'replication_controllers' | 'rolls' | 'daemon_sets' | 'pod_clusters',
    private readonly validate: (record: Record<string, unknown>, key: string) => T = (r) => r as T,
  ) {}

  key(id: string): string {
    assertUuid(`${this.prefix} id`, id);
    return `${this.prefix}/${id}`;
  }

  /** Creates with CAS index 0. @throws KvError `P2_KV_CAS_FAILED` when the id exists. */
  async create(id: string, record: T): Promise<void> {
    if (!(await this.store.cas(this.key(id), goJson(record), 0))) {
      throw new KvError(KvErrorCodes.CAS_FAILED, `${this.prefix}/${id} already exists`);
    }
  }

  /** `undefined` when absent. @throws KvError `P2_KV_BAD_RECORD` */
  async get(id: string): Promise<Indexed<T | undefined>> {
    const { value: entry, index } = await this.store.get(this.key(id));
    return { value: entry ? this.validate(asObject(entry), entry.key) : undefined, index };
  }

  /** Every readable record; the rest are reported. */
  async list(): Promise<{ records: Map<string, T>; problems: ReadProblem[] }> {
    const { value: entries } = await this.store.list(`${this.prefix}/`);
    const records = new Map<string, T>();
    const problems: ReadProblem[] = [];
    for (const entry of entries) {
      try {
        records.set(
          entry.key.slice(this.prefix.length + 1),
          this.validate(asObject(entry), entry.key),
        );
      } catch (error) {
        problems.push({ key: entry.key, error: error as KvError });
      }
    }
    return { records, problems };
  }

  /** GET + CAS at the GET's index, retried on a lost race. @throws KvError `P2_KV_CAS_FAILED`, `P2_KV_BAD_RECORD` */
  async mutate(id: string, change: (record: T) => T, retries = 5): Promise<T> {
    for (let attempt = 0; attempt <= retries; attempt++) {
      const { value: current, index } = await this.get(id);
      if (!current)
        throw new KvError(KvErrorCodes.BAD_RECORD, `${this.prefix}/${id} does not exist`);
      const next = change(current);
      if (await this.store.cas(this.key(id), goJson(next), index)) return next;
    }
    throw new KvError(
      KvErrorCodes.CAS_FAILED,
      `${this.prefix}/${id} changed concurrently ${retries + 1} time(s)`,
    );
  }

  /** Delete-CAS at `index` (from a previous `get`). */
  async delete(id: string, index: number): Promise<boolean> {
    return this.store.deleteCas(this.key(id), index);
  }
}

/** The RC record's required fields, checked on read as P2 did (spec 01 §2.5). */
export function validateReplicationController(
  record: Record<string, unknown>,
  key: string,
): Record<string, unknown> {
  if (typeof record.replicas_desired !== 'number') {
    throw new KvError(
      KvErrorCodes.BAD_RECORD,
      `${key}: replicas_desired is missing or not a number`,
      { details: { key } },
    );
  }
  if (typeof record.manifest !== 'string' || record.manifest === '') {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${key}: manifest is missing`, { details: { key } });
  }
  return record;
}

// ---- audit logs --------------------------------------------------------------------------------

/** An audit record (`audit_logs/<uuid>`). */
export interface AuditRecord {
  eventType: string;
  eventDetails: unknown;
  timestamp: string;
  schemaVersion: number;
}

/** Audit records; created and deleted inside transactions, as P2 did. */
export class AuditLogStore {
  constructor(private readonly store: Store) {}

  /** A txn op creating a record (schema_version 1). Returns the new id too. */
  createOp(eventType: string, eventDetails: unknown, now = new Date()): { id: string; op: TxnOp } {
    if (!/^[A-Z][A-Z0-9_]*$/.test(eventType)) {
      throw new KvError(
        KvErrorCodes.BAD_RECORD,
        `audit event type ${JSON.stringify(eventType)} must be UPPER_SNAKE_CASE`,
      );
    }
    const id = randomUUID();
    const value = goJson({
      event_type: eventType,
      event_details: eventDetails,
      timestamp: now.toISOString(),
      schema_version: 1,
    });
    return { id, op: { verb: 'set', key: `audit_logs/${id}`, value } };
  }

  deleteOp(id: string): TxnOp {
    assertUuid('audit log id', id);
    return { verb: 'delete', key: `audit_logs/${id}` };
  }

  /** id → record; keys that are not `audit_logs/<uuid>` are reported. */
  async list(): Promise<{ records: Map<string, AuditRecord>; problems: ReadProblem[] }> {
    const { value: entries } = await this.store.list('audit_logs/');
    const records = new Map<string, AuditRecord>();
    const problems: ReadProblem[] = [];
    for (const entry of entries) {
      try {
        const id = entry.key.slice('audit_logs/'.length);
        assertUuid('audit log id', id);
        const raw = asObject(entry);
        records.set(id, {
          eventType: String(raw.event_type ?? ''),
          eventDetails: raw.event_details,
          timestamp: String(raw.timestamp ?? ''),
          schemaVersion: Number(raw.schema_version ?? 0),
        });
      } catch (error) {
        problems.push({ key: entry.key, error: error as KvError });
      }
    }
    return { records, problems };
  }
}
