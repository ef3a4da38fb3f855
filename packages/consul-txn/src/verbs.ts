/** Consul's KV transaction verbs (spec 04 §2.11) and how each one touches the key space. */

/** Every KV verb Consul's `/v1/txn` accepts. */
export const TXN_VERBS = [
  'set',
  'cas',
  'lock',
  'unlock',
  'get',
  'get-or-empty',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
  'delete',
  'delete-tree',
  'delete-cas',
] as const;

/** A KV verb of Consul's `/v1/txn`. */
export type TxnVerb = (typeof TXN_VERBS)[number];

const VERBS = new Set<string>(TXN_VERBS);
const WRITE_VERBS = new Set<string>([
  'set',
  'cas',
  'lock',
  'unlock',
  'delete',
  'delete-tree',
  'delete-cas',
] satisfies TxnVerb[]);

/**
 * Whether `verb` is one of Consul's KV verbs.
 *
 * @example
 * ```ts
 * isTxnVerb('cas'); // true
 * isTxnVerb('put'); // false: Consul answers `unknown KV verb "put"`
 * ```
 */
export function isTxnVerb(verb: string): verb is TxnVerb {
  return VERBS.has(verb);
}

/**
 * Whether `verb` may write: a transaction without such verbs is read-only (Consul serves it on its
 * fast path, without a Raft write).
 *
 * @example
 * ```ts
 * isWriteVerb('delete-cas'); // true
 * isWriteVerb('check-index'); // false
 * ```
 */
export function isWriteVerb(verb: string): boolean {
  return WRITE_VERBS.has(verb);
}

/**
 * Whether `verb` takes a key prefix (`get-tree`, `delete-tree`) rather than one key. Only these
 * accept an empty key (the whole key space).
 *
 * @example
 * ```ts
 * isTreeVerb('delete-tree'); // true
 * ```
 */
export function isTreeVerb(verb: string): verb is 'get-tree' | 'delete-tree' {
  return verb === 'get-tree' || verb === 'delete-tree';
}
