import { LabelsError, LabelsErrorCode } from './errors.js';
import type { LabelSet } from './selector.js';

/** The label types P2 stores under `labels/<type>/` (note the singular `replication_controller`). */
export const LABEL_TYPES = [
  'pod',
  'node',
  'pod_clusters',
  'replication_controller',
  'rolls',
] as const;

/** One of {@link LABEL_TYPES}. */
export type LabelType = (typeof LABEL_TYPES)[number];

/** The store prefix of every label record. */
export const LABELS_PREFIX = 'labels/';

/** Labels with a meaning to P2's controllers (spec 03 §0.2). */
export const ReservedLabel = {
  /** The manifest id: on RC labels (automatic), on RC-scheduled pods, on pod clusters. */
  POD_ID: 'pod_id',
  /** The owning replication controller, on pods it scheduled. */
  REPLICATION_CONTROLLER_ID: 'replication_controller_id',
  /** The owning daemon set, on pods it scheduled. */
  DAEMON_SET_ID: 'daemon_set_id',
  /** Injected into RC `pod_labels` at creation; on pod clusters. */
  AVAILABILITY_ZONE: 'availability_zone',
  /** Injected into RC `pod_labels` at creation; on pod clusters. */
  CLUSTER_NAME: 'cluster_name',
} as const;

/** One of the {@link ReservedLabel} keys. */
export type ReservedLabel = (typeof ReservedLabel)[keyof typeof ReservedLabel];

/** A label record: what is stored at `labels/<type>/<id>`. */
export interface Labeled {
  readonly type: LabelType;
  /** Node name, `<node>/<pod-id>` for pods, or a UUID. */
  readonly id: string;
  readonly labels: LabelSet;
}

/** True when `type` is one of {@link LABEL_TYPES}. */
export function isLabelType(type: string): type is LabelType {
  return (LABEL_TYPES as readonly string[]).includes(type);
}

/**
 * Checks a label type.
 *
 * @throws LabelsError `P2_LABELS_INVALID_TYPE`
 */
export function assertLabelType(type: string): asserts type is LabelType {
  if (!isLabelType(type)) {
    throw new LabelsError(
      LabelsErrorCode.INVALID_TYPE,
      `unknown label type "${type}"; expected one of ${LABEL_TYPES.join(', ')}`,
      { details: { found: type, expected: LABEL_TYPES.join('|') } },
    );
  }
}

/**
 * The store key of a label record.
 *
 * @throws LabelsError `P2_LABELS_INVALID_TYPE`, `P2_LABELS_INVALID_KEY_PATH` (empty id)
 * @example labelKey('pod', 'node1/hello') // 'labels/pod/node1/hello'
 */
export function labelKey(type: LabelType, id: string): string {
  assertLabelType(type);
  if (id === '') {
    throw new LabelsError(
      LabelsErrorCode.INVALID_KEY_PATH,
      `a ${type} label id must not be empty`,
      {
        details: { key: `${LABELS_PREFIX}${type}/` },
      },
    );
  }
  return `${LABELS_PREFIX}${type}/${id}`;
}

/** The id of a pod's label record: `<node>/<pod-id>` (legacy pods). */
export function podLabelId(node: string, podId: string): string {
  return `${node}/${podId}`;
}

/**
 * Splits a pod label id `<node>/<pod-id>`; `undefined` for ids without a slash (uuid pods).
 *
 * @example parsePodLabelId('node1/hello') // { node: 'node1', podId: 'hello' }
 */
export function parsePodLabelId(id: string): { node: string; podId: string } | undefined {
  const slash = id.indexOf('/');
  if (slash <= 0 || slash === id.length - 1) return undefined;
  return { node: id.slice(0, slash), podId: id.slice(slash + 1) };
}

/**
 * Splits a store key `labels/<type>/<id>` (at most three parts, so ids keep their slashes).
 *
 * @throws LabelsError `P2_LABELS_INVALID_KEY_PATH`, `P2_LABELS_INVALID_TYPE`
 * @example parseLabelKey('labels/pod/n1/hello') // { type: 'pod', id: 'n1/hello' }
 */
export function parseLabelKey(key: string): { type: LabelType; id: string } {
  if (!key.startsWith(LABELS_PREFIX)) {
    throw new LabelsError(
      LabelsErrorCode.INVALID_KEY_PATH,
      `"${key}" is not a label key; expected labels/<type>/<id>`,
      { details: { key } },
    );
  }
  const rest = key.slice(LABELS_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash < 0 || slash === rest.length - 1) {
    throw new LabelsError(
      LabelsErrorCode.INVALID_KEY_PATH,
      `"${key}" is not a label key; expected labels/<type>/<id> with a non-empty id`,
      { details: { key } },
    );
  }
  const type = rest.slice(0, slash);
  assertLabelType(type);
  return { type, id: rest.slice(slash + 1) };
}

/**
 * Serialises a label set as P2 stores it: a JSON object with keys sorted and `<`, `>`, `&`,
 * U+2028 and U+2029 escaped (what Go's `json.Marshal` of a `map[string]string` writes).
 *
 * @example encodeLabels({ b: '2', a: '<1>' }) // '{"a":"\\u003c1\\u003e","b":"2"}'
 */
export function encodeLabels(labels: LabelSet): string {
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(labels).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    sorted[k] = labels[k]!;
  return goEscape(JSON.stringify(sorted));
}

/** Escapes what Go's encoder escapes beyond JSON.stringify. @internal */
export function goEscape(json: string): string {
  return json.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Reads a stored label record value: a JSON object whose values are all strings. An empty value
 * reads as no labels.
 *
 * @throws LabelsError `P2_LABELS_INVALID_RECORD` naming the key
 */
export function decodeLabels(
  value: string | Uint8Array,
  key = '(label record)',
): Record<string, string> {
  const text = typeof value === 'string' ? value : new TextDecoder().decode(value);
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new LabelsError(
      LabelsErrorCode.INVALID_RECORD,
      `label record ${key} is not valid JSON: ${(cause as Error).message}`,
      { cause, details: { key } },
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LabelsError(
      LabelsErrorCode.INVALID_RECORD,
      `label record ${key} must be a JSON object of label → value, found ${Array.isArray(parsed) ? 'an array' : typeof parsed}`,
      { details: { key } },
    );
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') {
      throw new LabelsError(
        LabelsErrorCode.INVALID_RECORD,
        `label "${k}" in ${key} must be a string, found ${v === null ? 'null' : typeof v}`,
        { details: { key, found: JSON.stringify(v) } },
      );
    }
    out[k] = v;
  }
  return out;
}
