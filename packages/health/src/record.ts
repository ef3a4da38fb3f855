import { HealthError, HealthErrorCode } from './errors.js';
import { type HealthState, parseHealthState } from './state.js';

/** The prefix of P2's health tree in the store. */
export const HEALTH_PREFIX = 'health/';

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

/**
 * The store key of a pod's health on a node: `health/<podId>/<node>`.
 *
 * @throws {HealthError} `P2_HEALTH_INVALID_KEY` when either part is empty or contains `/`.
 * @example healthKey('web', 'h1') // 'health/web/h1'
 */
export function healthKey(podId: string, node: string): string {
  for (const [what, part] of [
    ['pod id', podId],
    ['node', node],
  ] as const) {
    if (part === '' || part.includes('/')) {
      throw new HealthError(
        HealthErrorCode.INVALID_KEY,
        `cannot form a health key: ${what} ${JSON.stringify(part)} is empty or contains "/"`,
        { details: { podId, node } },
      );
    }
  }
  return `${HEALTH_PREFIX}${podId}/${node}`;
}

/**
 * Splits `health/<podId>/<node>`.
 *
 * @throws {HealthError} `P2_HEALTH_INVALID_KEY` for any other shape.
 * @example parseHealthKey('health/web/h1') // { podId: 'web', node: 'h1' }
 */
export function parseHealthKey(key: string): { podId: string; node: string } {
  const parts = key.startsWith(HEALTH_PREFIX) ? key.slice(HEALTH_PREFIX.length).split('/') : [];
  const [podId, node] = parts;
  if (parts.length !== 2 || !podId || !node) {
    throw new HealthError(
      HealthErrorCode.INVALID_KEY,
      `expected a key health/<podID>/<node>, found ${JSON.stringify(key)}`,
      { details: { key } },
    );
  }
  return { podId, node };
}

/**
 * Go's `time.RFC3339Nano` rendering of an instant in UTC: fractional seconds without trailing zeros.
 *
 * @example formatRfc3339Nano(new Date('2026-01-02T03:04:05.120Z')) // '2026-01-02T03:04:05.12Z'
 */
export function formatRfc3339Nano(date: Date): string {
  const iso = date.toISOString(); // 2026-01-02T03:04:05.120Z (years 0–9999)
  return iso.replace(/\.(\d+)Z$/, (_m, frac: string) => {
    const trimmed = frac.replace(/0+$/, '');
    return trimmed === '' ? 'Z' : `.${trimmed}Z`;
  });
}

function hundredYearsAfter(time: Date): Date {
  const out = new Date(time.getTime());
  out.setUTCFullYear(out.getUTCFullYear() + 100);
  return out;
}

/**
 * P2's JSON value of a health key: `{"Id","Node","Service","Status","Time","Expires"}` in Go's field
 * order, `Service` = the pod id, `Expires` = `time` + 100 years (as P2's session-based writer did).
 *
 * @example
 * ```ts
 * encodeHealthRecord({ podId: 'web', node: 'h1', status: 'passing', time: new Date('2026-01-02T03:04:05Z') })
 * // '{"Id":"web","Node":"h1","Service":"web","Status":"passing","Time":"2026-01-02T03:04:05Z","Expires":"2126-01-02T…Z"}'
 * ```
 */
export function encodeHealthRecord(record: {
  podId: string;
  node: string;
  status: HealthState;
  time: Date;
  service?: string;
  expires?: Date;
}): string {
  const expires = record.expires ?? hundredYearsAfter(record.time);
  return JSON.stringify({
    Id: record.podId,
    Node: record.node,
    Service: record.service ?? record.podId,
    Status: record.status,
    Time: formatRfc3339Nano(record.time),
    Expires: formatRfc3339Nano(expires),
  });
}

/**
 * Reads a stored health value as P2's readers did: field names case-insensitively (`ID` or `Id`),
 * an unrecognised `Status` as `unknown`. When `key` is given, a missing `Id`/`Node` is taken from it.
 *
 * @throws {HealthError} `P2_HEALTH_INVALID_RECORD` when the value is not a JSON object, or a
 *   field has the wrong type, or a time cannot be read.
 * @example decodeHealthRecord('{"Id":"web","Node":"h1","Service":"web","Status":"passing","Time":"2026-01-02T03:04:05Z","Expires":"2126-01-02T03:04:05Z"}').status // 'passing'
 */
export function decodeHealthRecord(value: string | Uint8Array, key?: string): HealthRecord {
  const text = typeof value === 'string' ? value : new TextDecoder().decode(value);
  const where = key === undefined ? 'health value' : `health value at ${key}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new HealthError(
      HealthErrorCode.INVALID_RECORD,
      `${where} is not JSON: ${(error as Error).message}`,
      {
        cause: error,
        details: { key, found: text.slice(0, 200) },
        hint: 'health keys are written by the preparer; a foreign writer may have put something else there',
      },
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new HealthError(
      HealthErrorCode.INVALID_RECORD,
      `${where}: expected a JSON object {"Id","Node","Service","Status","Time","Expires"}, found ${text.slice(0, 80)}`,
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
      throw new HealthError(
        HealthErrorCode.INVALID_RECORD,
        `${where}: field ${name} must be a string, found ${JSON.stringify(v)}`,
        { details: { key, path: name } },
      );
    }
    return v;
  };
  const time = (name: string): Date => {
    const raw = str(name);
    if (raw === '') return new Date(0);
    const ms = Date.parse(raw);
    if (Number.isNaN(ms)) {
      throw new HealthError(
        HealthErrorCode.INVALID_RECORD,
        `${where}: field ${name} must be an RFC 3339 time, found ${JSON.stringify(raw)}`,
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
