/**
 * Health records at `health/<podId>/<node>` (spec 01 §2.4): the one codec every reader and writer
 * uses. Writing is exact (P2's Go field order, lower-case statuses, RFC3339Nano times); reading is
 * lenient as P2's readers were (field names in any case; any other status string, wrong case
 * included, reads as `unknown`).
 */
import { formatRfc3339Nano, goJson } from '@p2/go';
import { assertSegment, type KvEntry, KvError, KvErrorCodes, type Store } from '@p2/kv';
import { text } from './json.js';
import { Prefix } from './keys.js';

/** P2's health states, ordered worst → best: `critical` < `unknown` < `warning` < `passing`. */
export const HEALTH_STATES = ['critical', 'unknown', 'warning', 'passing'] as const;

/** One of P2's health states. */
export type HealthState = (typeof HEALTH_STATES)[number];

/** True when `value` is exactly one of the four state names. */
export function isHealthState(value: unknown): value is HealthState {
  return typeof value === 'string' && (HEALTH_STATES as readonly string[]).includes(value);
}

/**
 * Reads a stored status string as P2 did: any unrecognised string (wrong case included) is `unknown`.
 *
 * @example parseHealthState('passing') // 'passing'
 * @example parseHealthState('Passing') // 'unknown'
 */
export function parseHealthState(value: unknown): HealthState {
  return isHealthState(value) ? value : 'unknown';
}

/** One pod's health on one node, as stored at `health/<podId>/<node>`. */
export interface HealthRecord {
  podId: string;
  node: string;
  /** P2's `Service` field; always the pod id when P2 wrote it. */
  service: string;
  status: HealthState;
  /** When the status last changed (P2 wrote only on change). */
  time: Date;
  /** P2 wrote now + 100 years: liveness comes from the session, not from this. */
  expires: Date;
}

/** What a writer gives {@link encodeHealthRecord}: times as dates or RFC 3339 text. */
export interface HealthRecordInput {
  podId: string;
  node: string;
  status: HealthState;
  time: Date | string;
  /** @default podId */
  service?: string;
  /** @default time + 100 years (also for `''`) */
  expires?: Date | string;
}

/**
 * The store key of a pod's health on a node: `health/<podId>/<node>`.
 *
 * @throws KvError `P2_KV_INVALID_KEY` when either part is empty or contains `/`.
 * @example healthKey('web', 'h1') // 'health/web/h1'
 */
export function healthKey(podId: string, node: string): string {
  for (const [what, part] of [
    ['pod id', podId],
    ['node', node],
  ] as const) {
    if (part === '' || part.includes('/')) {
      throw new KvError(
        KvErrorCodes.INVALID_KEY,
        `cannot form a health key: ${what} ${JSON.stringify(part)} is empty or contains "/"`,
        { details: { podId, node } },
      );
    }
  }
  return `${Prefix.health}${podId}/${node}`;
}

/** `health/<podId>/`: one pod's records on every node. */
export function podHealthPrefix(podId: string): string {
  return `${Prefix.health}${podId}/`;
}

/**
 * Splits `health/<podId>/<node>`.
 *
 * @throws KvError `P2_KV_INVALID_KEY` for any other shape.
 * @example parseHealthKey('health/web/h1') // { podId: 'web', node: 'h1' }
 */
export function parseHealthKey(key: string): { podId: string; node: string } {
  const parts = key.startsWith(Prefix.health) ? key.slice(Prefix.health.length).split('/') : [];
  const [podId, node] = parts;
  if (parts.length !== 2 || !podId || !node) {
    throw new KvError(
      KvErrorCodes.INVALID_KEY,
      `expected a key health/<podID>/<node>, found ${JSON.stringify(key)}`,
      { details: { key } },
    );
  }
  return { podId, node };
}

function hundredYearsAfter(time: Date): Date {
  const out = new Date(time.getTime());
  out.setUTCFullYear(out.getUTCFullYear() + 100);
  return out;
}

function asDate(value: Date | string, field: string): Date {
  if (value instanceof Date) return value;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new KvError(
      KvErrorCodes.BAD_RECORD,
      `health record: ${field} must be an RFC 3339 time, found ${JSON.stringify(value)}`,
    );
  }
  return new Date(ms);
}

/**
 * P2's JSON value of a health key: `{"Id","Node","Service","Status","Time","Expires"}` in Go's field
 * order, `Service` = the pod id, `Expires` = `time` + 100 years (as P2's session-based writer did),
 * times in Go's RFC3339Nano.
 *
 * @throws KvError `P2_KV_BAD_RECORD` for a time given as text that is not RFC 3339.
 * @example
 * ```ts
 * encodeHealthRecord({ podId: 'web', node: 'h1', status: 'passing', time: new Date('2026-01-02T03:04:05Z') })
 * // '{"Id":"web","Node":"h1","Service":"web","Status":"passing","Time":"2026-01-02T03:04:05Z","Expires":"2126-01-02T…Z"}'
 * ```
 */
export function encodeHealthRecord(record: HealthRecordInput): string {
  const time = asDate(record.time, 'Time');
  const expires =
    record.expires === undefined || record.expires === ''
      ? hundredYearsAfter(time)
      : asDate(record.expires, 'Expires');
  return goJson({
    Id: record.podId,
    Node: record.node,
    Service: record.service ?? record.podId,
    Status: record.status,
    Time: formatRfc3339Nano(time),
    Expires: formatRfc3339Nano(expires),
  });
}

/**
 * Reads a stored health value as P2's readers did: field names case-insensitively (`ID` or `Id`),
 * an unrecognised `Status` as `unknown`. When `key` is given, a missing `Id`/`Node` is taken from it.
 *
 * @throws KvError `P2_KV_BAD_RECORD` when the value is not a JSON object, or a field has the wrong
 *   type, or a time cannot be read.
 * @example decodeHealthRecord('{"Id":"web","Node":"h1","Service":"web","Status":"passing","Time":"2026-01-02T03:04:05Z","Expires":"2126-01-02T03:04:05Z"}').status // 'passing'
 */
export function decodeHealthRecord(value: string | Uint8Array, key?: string): HealthRecord {
  const raw = text(value);
  const where = key === undefined ? 'health value' : `health value at ${key}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new KvError(
      KvErrorCodes.BAD_RECORD,
      `${where} is not JSON: ${(error as Error).message}`,
      {
        cause: error,
        details: { key, found: raw.slice(0, 200) },
        hint: 'health keys are written by the preparer; a foreign writer may have put something else there',
      },
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new KvError(
      KvErrorCodes.BAD_RECORD,
      `${where}: expected a JSON object {"Id","Node","Service","Status","Time","Expires"}, found ${raw.slice(0, 80)}`,
      { details: { key } },
    );
  }
  const fields = new Map<string, unknown>();
  for (const [k, v] of Object.entries(parsed)) fields.set(k.toLowerCase(), v);
  const fromKey = key === undefined ? undefined : safeParseKey(key);
  const str = (name: string, fallback?: string): string => {
    const v = fields.get(name.toLowerCase());
    if (v === undefined || v === null) return fallback ?? '';
    if (typeof v !== 'string') {
      throw new KvError(
        KvErrorCodes.BAD_RECORD,
        `${where}: field ${name} must be a string, found ${JSON.stringify(v)}`,
        { details: { key, path: name } },
      );
    }
    return v;
  };
  const time = (name: string): Date => {
    const value = str(name);
    if (value === '') return new Date(0);
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) {
      throw new KvError(
        KvErrorCodes.BAD_RECORD,
        `${where}: field ${name} must be an RFC 3339 time, found ${JSON.stringify(value)}`,
        { details: { key, path: name } },
      );
    }
    return new Date(ms);
  };
  const podId = str('Id', fromKey?.podId);
  return {
    podId,
    node: str('Node', fromKey?.node),
    service: str('Service', podId),
    status: parseHealthState(str('Status')),
    time: time('Time'),
    expires: time('Expires'),
  };
}

function safeParseKey(key: string): { podId: string; node: string } | undefined {
  try {
    return parseHealthKey(key);
  } catch {
    return undefined;
  }
}

/**
 * Health records written by preparers and read by checkers, controllers and `p2 inspect`.
 *
 * @example
 * ```ts
 * const health = new HealthStore(store);
 * await health.put({ podId: 'hello', node: 'node1', status: 'passing', time: new Date() }, { session });
 * (await health.forPod('hello')).get('node1')?.status; // 'passing'
 * ```
 */
export class HealthStore {
  constructor(private readonly store: Store) {}

  /** `health/<podId>/<node>`, with the pod id and node checked as key segments. @throws KvError `P2_KV_INVALID_KEY` */
  key(podId: string, node: string): string {
    assertSegment('pod id', podId);
    assertSegment('node name', node);
    return healthKey(podId, node);
  }

  /** Decodes a listed or read entry (see {@link decodeHealthRecord}). */
  static decode(entry: KvEntry): HealthRecord {
    return decodeHealthRecord(entry.value, entry.key);
  }

  /**
   * Writes a record. With `session`, the write is an `acquire` (the key vanishes with the session),
   * as P2's first write under a session was; later writes may be plain puts.
   * @returns false when the key is held by another session
   */
  async put(record: HealthRecordInput, options: { session?: string } = {}): Promise<boolean> {
    const key = this.key(record.podId, record.node);
    const value = encodeHealthRecord(record);
    if (options.session) return this.store.acquire(key, value, options.session);
    await this.store.put(key, value);
    return true;
  }

  /** One pod on one node; `undefined` when absent (P2 synthesised `unknown`). */
  async get(podId: string, node: string): Promise<HealthRecord | undefined> {
    const { value: entry } = await this.store.get(this.key(podId, node));
    return entry ? HealthStore.decode(entry) : undefined;
  }

  /** node → record for one pod (lists `health/<podId>/`); unreadable records are skipped, as P2 did. */
  async forPod(podId: string): Promise<Map<string, HealthRecord>> {
    assertSegment('pod id', podId);
    const prefix = podHealthPrefix(podId);
    const { value: entries } = await this.store.list(prefix);
    const out = new Map<string, HealthRecord>();
    for (const entry of entries) {
      const node = entry.key.slice(prefix.length);
      if (node === '' || node.includes('/')) continue;
      try {
        out.set(node, HealthStore.decode(entry));
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
