/**
 * Pre-staging across nodes (issue 21): a manifest written to `prestage/<node>/<pod>` of every
 * target node, then — when asked to wait — each node's preparer's answer awaited
 * (`status/prestage/<node>/<pod>` naming this manifest's SHA), so that a rollout that follows
 * only switches and restarts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RcError, RcErrorCode } from '@p2/controller-kit';
import { PrestageStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';

/** Options of {@link prestage}. */
export interface PrestageOptions {
  store: Store;
  manifest: Manifest;
  nodes: readonly string[];
  /** Wait for every node's answer. @default true */
  wait?: boolean;
  /** Fail when a node has not answered `staged` or `failed` by then. @default 600_000 */
  timeoutMs?: number;
  /** How often the answers are read while waiting. @default 250 */
  pollMs?: number;
  signal?: AbortSignal;
  /** Told each node's answer once it is final. */
  onProgress?: (node: NodeStage) => void;
}

/** One node's pre-stage state. */
export interface NodeStage {
  node: string;
  /** `requested` when not waited for. */
  state: 'requested' | 'staged' | 'failed';
  reason?: string;
}

/** What {@link prestage} did. */
export interface PrestageResult {
  podId: string;
  sha: string;
  nodes: NodeStage[];
}

/**
 * Asks every node to pre-stage `manifest` and, by default, waits until each has it on disk.
 *
 * @throws RcError `P2_RC_NOT_STAGED` naming each node that failed (with its preparer's reason) or
 *   did not answer in time; KvError `P2_KV_INVALID_KEY` for a bad node name
 * @example
 * ```ts
 * const result = await prestage({ store, manifest, nodes: ['h1', 'h2'] });
 * result.nodes; // [{ node: 'h1', state: 'staged' }, { node: 'h2', state: 'staged' }]
 * ```
 */
export async function prestage(options: PrestageOptions): Promise<PrestageResult> {
  const { manifest, nodes } = options;
  const store = new PrestageStore(options.store);
  const sha = manifest.sha();
  for (const node of nodes) await store.request(node, manifest);
  if (options.wait === false)
    return { podId: manifest.id, sha, nodes: nodes.map((node) => ({ node, state: 'requested' })) };
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  const settled = new Map<string, NodeStage>();
  for (;;) {
    for (const node of nodes) {
      if (settled.has(node)) continue;
      const report = await store.report(node, manifest.id).catch(() => undefined);
      if (report?.sha !== sha || report.state === 'staging') continue;
      const stage: NodeStage = {
        node,
        state: report.state,
        ...(report.reason === undefined ? {} : { reason: report.reason }),
      };
      settled.set(node, stage);
      options.onProgress?.(stage);
    }
    if (settled.size === nodes.length || Date.now() > deadline || options.signal?.aborted) break;
    await sleep(options.pollMs ?? 250, undefined, { signal: options.signal }).catch(
      () => undefined,
    );
  }
  const result = {
    podId: manifest.id,
    sha,
    nodes: nodes.map(
      (node) =>
        settled.get(node) ?? { node, state: 'failed' as const, reason: 'no answer in time' },
    ),
  };
  const bad = result.nodes.filter((n) => n.state !== 'staged');
  if (bad.length > 0)
    throw new RcError(
      RcErrorCode.NOT_STAGED,
      `${bad.length} of ${nodes.length} nodes did not pre-stage ${manifest.id}: ${bad.map((n) => `${n.node} (${n.reason ?? 'failed'})`).join(', ')}`,
      {
        hint: 'check the preparer on those nodes (`p2 inspect`, its log); a request is tried again when written again',
        details: { nodes: bad },
      },
    );
  return result;
}
