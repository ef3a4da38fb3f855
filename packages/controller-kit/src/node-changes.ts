/** Writing intent node by node: batched node changes, intent reads, manifest comparison. */
import { intentKey } from '@p2/keyspace';
import { type KvEntry, MAX_TXN_OPS, type Store, type TxnOp } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { commit, storeError } from './util.js';

/** The ops of one node's change, kept together in one transaction. */
export interface NodeChange {
  readonly node: string;
  readonly effect: 'add' | 'remove' | 'rewrite';
  readonly ops: TxnOp[];
}

/**
 * Commits node changes in transactions of at most 64 ops, each starting with the lock proof and,
 * when `audit` is given, ending with an audit record whose node set is the controller's nodes after
 * that transaction.
 */
export async function commitNodeChanges(
  store: Store,
  changes: readonly NodeChange[],
  options: {
    proof: readonly TxnOp[];
    nodesBefore: Iterable<string>;
    audit?: ((nodesAfter: string[]) => TxnOp) | undefined;
    what: string;
  },
): Promise<void> {
  const room = MAX_TXN_OPS - options.proof.length - (options.audit ? 1 : 0);
  const nodes = new Set(options.nodesBefore);
  let chunk: NodeChange[] = [];
  let size = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    for (const ch of chunk) {
      if (ch.effect === 'add') nodes.add(ch.node);
      else if (ch.effect === 'remove') nodes.delete(ch.node);
    }
    const ops = [...options.proof, ...chunk.flatMap((ch) => ch.ops)];
    if (options.audit) ops.push(options.audit([...nodes]));
    await commit(store, ops, options.what);
    chunk = [];
    size = 0;
  };
  for (const ch of changes) {
    if (ch.ops.length === 0) continue;
    if (size + ch.ops.length > room) await flush();
    chunk.push(ch);
    size += ch.ops.length;
  }
  await flush();
}

/**
 * Reads one key per node — `keyOf(node)` — 32 reads in flight (one at a time made a pass over
 * thousands of nodes take seconds; docs/scaling.md). Nodes without the key are left out.
 */
export async function readPerNode(
  store: Store,
  nodes: readonly string[],
  keyOf: (node: string) => string,
): Promise<Map<string, KvEntry>> {
  const out = new Map<string, KvEntry>();
  let next = 0;
  const worker = async () => {
    while (next < nodes.length) {
      const node = nodes[next++]!;
      const key = keyOf(node);
      try {
        const entry = (await store.get(key)).value;
        if (entry) out.set(node, entry);
      } catch (cause) {
        throw storeError(`reading ${key}`, cause);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(32, nodes.length) }, worker));
  return out;
}

/** Reads the intent of `podId` on each node (see {@link readPerNode}). */
export async function readIntents(
  store: Store,
  nodes: readonly string[],
  podId: string,
): Promise<Map<string, Uint8Array>> {
  const entries = await readPerNode(store, nodes, (node) => intentKey(node, podId));
  return new Map([...entries].map(([node, entry]) => [node, entry.value]));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when stored manifest bytes are the same manifest (same bytes, or same P2 SHA). */
export function sameManifest(stored: Uint8Array, raw: Uint8Array, sha: string): boolean {
  if (bytesEqual(stored, raw)) return true;
  try {
    return parseManifest(stored).sha() === sha;
  } catch {
    return false;
  }
}
