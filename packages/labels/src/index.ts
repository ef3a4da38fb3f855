/**
 * `@p2/labels` — Kubernetes-style label selectors (parse, match, serialize) with the semantics of
 * the Kubernetes v1.2 parser P2 vendored, and the label names P2's controllers reserve. P2's label
 * records (`labels/<type>/<id>`) and the `LabelStore` live in `@p2/keyspace`.
 *
 * @packageDocumentation
 */
export { LabelsError, LabelsErrorCode, type LabelsErrorDetails } from './errors.js';
export { ReservedLabel } from './reserved.js';
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
