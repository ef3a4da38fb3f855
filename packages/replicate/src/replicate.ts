/**
 * P2's replicator (spec 03 §3, `p2-replicate`): writes one manifest into the intent of a list of
 * nodes, least healthy first, and moves on only as the updated nodes run it and report healthy —
 * keeping at least `minNodes` of them healthy throughout — under the pod's replication lock.
 */
import { commit, RcError, RcErrorCode, sameManifest, storeError } from '@p2/controller-kit';
import { compareHealth, sortNodesWorstFirst } from '@p2/health';
import { type HealthState, HealthStore, PodTree } from '@p2/keyspace';
import { type HeldLock, KvError, KvErrorCodes, type Store, sleep } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import { lockReplication } from './lock.js';
import { checkNodes } from './preflight.js';

/** What happened to one node. */
export type NodeEvent =
  /** Already ran this manifest and was healthy: nothing to do (a re-run after an interruption). */
  | 'already'
  /** Its intent now holds the manifest. */
  | 'started'
  /** It runs the manifest and reports healthy. */
  | 'healthy';

/** Where a replication stands, after each event. */
export interface ReplicationProgress {
  readonly node: string;
  readonly event: NodeEvent;
  /** Nodes done (healthy with the manifest, including those that already were). */
  readonly done: number;
  readonly total: number;
  /** Nodes whose intent was written and that are not healthy yet. */
  readonly inProgress: readonly string[];
}

/** Options of {@link replicate}. */
export interface ReplicateOptions {
  readonly store: Store;
  /** Written verbatim (a clearsigned manifest stays signed). */
  readonly manifest: Manifest;
  readonly nodes: readonly string[];
  /** Healthy target nodes to keep while it proceeds; must be below the node count. @default 1 */
  readonly minNodes?: number;
  /** Per node: fail when it is not healthy this long after its intent was written. @default none */
  readonly timeoutMs?: number;
  /** The lowest health state counted as healthy. @default 'passing' */
  readonly threshold?: HealthState;
  /** Session name and lock value: P2 writes `"<user>" from "<host>" at "<time>"` ({@link lockMessage}). */
  readonly lockMessage: string;
  /** Destroy the session of a replication holding the lock (P2's `--override-lock`). */
  readonly overrideLock?: boolean;
  /** Replicate to nodes whose pod an RC manages (P2's `--ignore-controllers`). */
  readonly ignoreControllers?: boolean;
  /** How often reality and health are read. @default 1_000 */
  readonly pollMs?: number;
  /** TTL of the lock's session. @default 15_000 */
  readonly sessionTtlMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ReplicationProgress) => void;
}

/** The outcome of a finished replication. */
export interface ReplicationResult {
  readonly podId: string;
  readonly sha: string;
  /** Nodes updated by this run, in the order they became healthy. */
  readonly updated: readonly string[];
  /** Nodes that already ran the manifest healthily. */
  readonly alreadyDone: readonly string[];
}

/**
 * Replicates `manifest` to `nodes` (see the module comment). Safe to re-run after an interruption:
 * nodes already running the manifest healthily are skipped, and the lock of a dead run goes with its
 * session.
 *
 * @throws RcError `P2_RC_INVALID_REQUEST` (bad counts, a node without a preparer, a node an RC
 *   manages), `P2_RC_LOCKED` (another replication of the pod, or the lock was lost),
 *   `P2_RC_NOT_HEALTHY` (a node not healthy within `timeoutMs`, or too few healthy nodes to go on;
 *   `details.node` names it), `P2_RC_STORE`; `P2_KV_ABORTED` through `signal`.
 * @example
 * ```ts
 * const result = await replicate({ store, manifest, nodes: ['n1', 'n2', 'n3'], minNodes: 2, lockMessage: lockMessage('me', 'laptop') });
 * ```
 */
export async function replicate(options: ReplicateOptions): Promise<ReplicationResult> {
  const { store, manifest } = options;
  const nodes = [...new Set(options.nodes)];
  const minNodes = options.minNodes ?? 1;
  if (nodes.length === 0) throw invalid('no nodes to replicate to');
  if (!Number.isInteger(minNodes) || minNodes < 0 || minNodes >= nodes.length) {
    throw invalid(
      `min-nodes must be a whole number below the number of nodes (${nodes.length}), got ${minNodes}`,
    );
  }
  await checkNodes(store, manifest.id, nodes, options.ignoreControllers ?? false);
  const held = await lockReplication(store, manifest.id, {
    message: options.lockMessage,
    ttlMs: options.sessionTtlMs ?? 15_000,
    override: options.overrideLock ?? false,
  });
  try {
    return await new Replication(options, nodes, minNodes, held.lock).run();
  } finally {
    await held.release();
  }
}

function invalid(message: string): RcError {
  return new RcError(RcErrorCode.INVALID_REQUEST, message);
}

/** One run: the node states and the loop that moves them on. */
class Replication {
  readonly #intent: PodTree;
  readonly #reality: PodTree;
  readonly #health: HealthStore;
  readonly #sha: string;
  readonly #threshold: HealthState;
  /** P2's concurrency bound: nodes − min-nodes, at most 50. */
  readonly #active: number;
  #queue: string[] = [];
  /** Node → deadline (ms since epoch, or Infinity). */
  readonly #inProgress = new Map<string, number>();
  readonly #updated: string[] = [];
  readonly #already: string[] = [];
  #status = new Map<string, HealthState>();

  constructor(
    private readonly o: ReplicateOptions,
    private readonly nodes: string[],
    private readonly minNodes: number,
    private readonly lock: HeldLock,
  ) {
    this.#intent = new PodTree(o.store, 'intent');
    this.#reality = new PodTree(o.store, 'reality');
    this.#health = new HealthStore(o.store);
    this.#sha = o.manifest.sha();
    this.#threshold = o.threshold ?? 'passing';
    this.#active = Math.min(50, nodes.length - minNodes);
  }

  async run(): Promise<ReplicationResult> {
    await this.#readHealth();
    this.#queue = sortNodesWorstFirst(this.nodes, this.#status);
    for (;;) {
      this.#checkStop();
      await this.#readHealth();
      for (const [node, deadline] of this.#inProgress) {
        if (await this.#isDone(node)) {
          this.#inProgress.delete(node);
          this.#updated.push(node);
          this.#report(node, 'healthy');
        } else if (Date.now() > deadline) {
          throw this.#notHealthy(
            node,
            `node ${node} did not become healthy (${this.#threshold}) within ${this.o.timeoutMs} ms; its health is ${this.#status.get(node) ?? 'unknown (no record)'}`,
          );
        }
      }
      await this.#startNodes();
      if (this.#queue.length === 0 && this.#inProgress.size === 0) {
        return {
          podId: this.o.manifest.id,
          sha: this.#sha,
          updated: this.#updated,
          alreadyDone: this.#already,
        };
      }
      await sleep(this.o.pollMs ?? 1_000, this.o.signal).catch(() => undefined);
    }
  }

  /** Starts queued nodes while the concurrency bound and the healthy minimum allow. */
  async #startNodes(): Promise<void> {
    while (this.#queue.length > 0 && this.#inProgress.size < this.#active) {
      const node = this.#queue[0]!;
      if (await this.#isDone(node)) {
        this.#queue.shift();
        this.#already.push(node);
        this.#report(node, 'already');
        continue;
      }
      const healthy = this.nodes.filter((n) => !this.#inProgress.has(n) && this.#healthy(n));
      if (this.#healthy(node) && healthy.length - 1 < this.minNodes) {
        if (this.#inProgress.size > 0) return; // wait for an updated node to become healthy
        throw this.#notHealthy(
          node,
          `only ${healthy.length} of ${this.nodes.length} nodes are healthy; updating ${node} would leave fewer than ${this.minNodes}`,
        );
      }
      this.#checkStop();
      // Only while the lock is ours: a run that lost it cannot write.
      await commit(
        this.o.store,
        [
          { verb: 'check-session', key: this.lock.key, session: this.lock.session },
          this.#intent.setPodOp(node, this.o.manifest),
        ],
        `writing the intent of ${node}`,
      ).catch((error) => {
        if (error instanceof RcError && error.code === RcErrorCode.TXN_ROLLED_BACK) {
          throw this.#lockLostError(error);
        }
        throw error;
      });
      this.#queue.shift();
      this.#inProgress.set(node, Date.now() + (this.o.timeoutMs ?? Number.POSITIVE_INFINITY));
      this.#report(node, 'started');
    }
  }

  /**
   * Intent and reality hold the manifest and the node's health, written after its reality entry,
   * reaches the threshold: a record from before the pod was replaced cannot count for it.
   */
  async #isDone(node: string): Promise<boolean> {
    const podId = this.o.manifest.id;
    const read = <T>(what: string, p: Promise<T>) =>
      p.catch((cause) => {
        throw storeError(`reading ${what}`, cause);
      });
    const [intent, reality] = await Promise.all(
      [this.#intent, this.#reality].map((tree) =>
        read(tree.key(node, podId), tree.getPod(node, podId)),
      ),
    );
    const at = (r: typeof intent) =>
      r?.value !== undefined && sameManifest(r.value.raw, this.o.manifest.raw, this.#sha);
    if (!at(intent) || !at(reality)) return false;
    const { value: entry } = await read(
      `the health of ${podId} on ${node}`,
      this.o.store.get(this.#health.key(podId, node)),
    );
    // The controllers' health gate (controller-kit's healthyAfter): a record written before the
    // reality entry vouches for the pod that ran before, so it counts as no record. Store indexes
    // come from one counter; the record's own time is the writing host's clock.
    const fresh = entry !== undefined && entry.modifyIndex > (reality?.value?.modifyIndex ?? 0);
    if (entry && fresh) this.#status.set(node, HealthStore.decode(entry).status);
    else this.#status.delete(node);
    return this.#healthy(node);
  }

  #healthy(node: string): boolean {
    const status = this.#status.get(node);
    return status !== undefined && compareHealth(status, this.#threshold) >= 0;
  }

  async #readHealth(): Promise<void> {
    try {
      const records = await this.#health.forPod(this.o.manifest.id);
      this.#status = new Map([...records].map(([node, r]) => [node, r.status]));
    } catch (cause) {
      throw storeError(`reading the health of ${this.o.manifest.id}`, cause);
    }
  }

  #checkStop(): void {
    if (this.lock.lost.aborted) throw this.#lockLostError(this.lock.lost.reason);
    if (this.o.signal?.aborted) {
      throw new KvError(KvErrorCodes.ABORTED, 'replication cancelled', {
        cause: this.o.signal.reason,
      });
    }
  }

  #lockLostError(cause: unknown): RcError {
    return new RcError(RcErrorCode.LOCKED, `lost ${this.lock.key}; stopped`, {
      cause,
      hint: 'run it again: nodes already done are skipped',
    });
  }

  #notHealthy(node: string, message: string): RcError {
    return new RcError(RcErrorCode.NOT_HEALTHY, message, {
      details: {
        node,
        updated: this.#updated,
        inProgress: [...this.#inProgress.keys()],
        pending: this.#queue,
      },
      hint: 'nodes after it were not touched; fix it and run again (done nodes are skipped)',
    });
  }

  #report(node: string, event: NodeEvent): void {
    this.o.onProgress?.({
      node,
      event,
      done: this.#updated.length + this.#already.length,
      total: this.nodes.length,
      inProgress: [...this.#inProgress.keys()],
    });
  }
}
