/**
 * `@p2/consul-txn`: Consul's KV transaction semantics evaluated over any key space — the verbs,
 * their checks, Consul's error texts and result entries, written once for p2-kv-server and the etcd
 * backend of `@p2/kv`.
 *
 * @packageDocumentation
 */
export {
  evaluateTxn,
  type TxnEntry,
  type TxnEvaluateOptions,
  type TxnKeySpace,
  type TxnOpError,
  type TxnOperation,
  type TxnOutcome,
  type TxnResultEntry,
} from './evaluate.js';
export { isTreeVerb, isTxnVerb, isWriteVerb, TXN_VERBS, type TxnVerb } from './verbs.js';
