/**
 * `@p2/labels` — Kubernetes-style label selectors (parse, match, serialize) with the semantics of
 * the Kubernetes v1.2 parser P2 vendored, and P2's label records (`labels/<type>/<id>`).
 *
 * @packageDocumentation
 */
export { LabelsError, LabelsErrorCode, type LabelsErrorDetails } from './errors.js';
export {
  assertLabelType,
  decodeLabels,
  encodeLabels,
  isLabelType,
  LABEL_TYPES,
  LABELS_PREFIX,
  type Labeled,
  type LabelType,
  labelKey,
  parseLabelKey,
  parsePodLabelId,
  podLabelId,
  ReservedLabel,
} from './records.js';
export {
  isValidLabelKey,
  isValidLabelValue,
  type LabelSet,
  labelKeyProblem,
  labelSetString,
  labelValueProblem,
  type Operator,
  parseSelector,
  type Requirement,
  requirement,
  Selector,
} from './selector.js';
export {
  type IndexedLabels,
  type LabelChange,
  LabelStore,
  type LabelStoreOptions,
  MAX_TXN_OPS,
} from './store.js';
