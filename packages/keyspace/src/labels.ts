/**
 * Label records at `labels/<type>/<id>` (spec 01 §3): keys, ids and the one codec. Problems are
 * `LabelsError`s (from `@p2/labels`), as label problems are everywhere.
 */
import { goJson, sortedMap } from '@p2/go';
import { type LabelSet, LabelsError, LabelsErrorCode } from '@p2/labels';
import { text } from './json.js';
import { Prefix } from './keys.js';

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
        details: { key: `${Prefix.labels}${type}/` },
      },
    );
  }
  return `${Prefix.labels}${type}/${id}`;
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
  if (!key.startsWith(Prefix.labels)) {
    throw new LabelsError(
      LabelsErrorCode.INVALID_KEY_PATH,
      `"${key}" is not a label key; expected labels/<type>/<id>`,
      { details: { key } },
    );
  }
  const rest = key.slice(Prefix.labels.length);
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
  return goJson(sortedMap(labels));
}

/** `labels/<type>/`: every record of one type. */
export function labelTypePrefix(type: LabelType): string {
  return `${Prefix.labels}${type}/`;
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
  const raw = text(value);
  if (raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
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
