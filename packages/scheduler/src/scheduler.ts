import { createHash } from 'node:crypto';
import { LabelStore, Prefix, parsePodTreeKey } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import type { LabelSet, Selector } from '@p2/labels';
import { type Manifest, parseManifest } from '@p2/manifest';
import { SchedulerError, SchedulerErrorCode } from './errors.js';
import {
  type CandidateNode,
  type Placement,
  placeReplicas,
  podDemand,
  type Resources,
} from './placement.js';

/** What a controller asks a scheduler to place. */
export interface AllocationRequest {
  readonly manifest: Manifest;
  readonly selector: Selector;
  /** How many more replicas to place. */
  readonly count: number;
  /** Nodes already holding this controller's replicas (never chosen again; they count for spreading). */
  readonly current: readonly string[];
  /** Spread replicas over the values of this node label. */
  readonly spreadKey?: string | undefined;
}

/**
 * Where pods may go (P2's scheduler interface, with allocation that P2's built-in scheduler lacked).
 */
export interface Scheduler {
  /** Names of nodes whose labels match the selector, sorted. */
  eligibleNodes(manifest: Manifest, selector: Selector): Promise<string[]>;
  /** Chooses nodes for `count` new replicas; may return fewer (see `unfit`). */
  allocate(request: AllocationRequest): Promise<Placement>;
}

/** Options of a {@link LabelScheduler}. */
export interface LabelSchedulerOptions {
  labels?: LabelStore;
  /** Check node capacity labels against the cgroup limits of pods already intended there. @default true */
  capacity?: boolean;
  /**
   * A node's capacity from another source than its labels (e.g. resources reported by the node's
   * agent); `undefined` falls back to the `p2.capacity/*` labels.
   */
  capacityOf?: (node: string, labels: LabelSet) => Resources | undefined;
}

/**
 * The built-in scheduler: eligible nodes are node label records matching the selector (as P2);
 * allocation (which P2 never had) fills nodes that fit the pod's cgroup limits under their
 * `p2.capacity/*` labels, spreads across a topology label, prefers nodes not already running the
 * pod id, then goes in node-name order.
 *
 * @example
 * ```ts
 * const scheduler = new LabelScheduler(store);
 * const { nodes } = await scheduler.allocate({ manifest, selector, count: 3, current: [], spreadKey: 'availability_zone' });
 * ```
 */
export class LabelScheduler implements Scheduler {
  readonly #store: Store;
  readonly #labels: LabelStore;
  readonly #capacity: boolean;
  readonly #capacityOf: LabelSchedulerOptions['capacityOf'];
  readonly #demandCache = new Map<string, Resources>();

  constructor(store: Store, options: LabelSchedulerOptions = {}) {
    this.#store = store;
    this.#labels = options.labels ?? new LabelStore(store);
    this.#capacity = options.capacity ?? true;
    this.#capacityOf = options.capacityOf;
  }

  async eligibleNodes(_manifest: Manifest, selector: Selector): Promise<string[]> {
    return (await this.#labels.select('node', selector)).map((r) => r.id).sort(); // UTF-16 code unit order, as `<`
  }

  /** @throws SchedulerError `P2_SCHEDULER_STORE` when the intent tree cannot be read. */
  async allocate(request: AllocationRequest): Promise<Placement> {
    if (request.count <= 0) return { nodes: [], unfit: [] };
    const nodes = await this.#labels.select('node', request.selector);
    const current = new Set(request.current);
    const podId = request.manifest.id;
    const demand = podDemand(request.manifest);
    const needUsage = this.#capacity && (demand.cpus > 0 || demand.memory > 0);
    const used = new Map<string, Resources>();
    const occupied = new Set<string>();
    try {
      if (needUsage) {
        const entries = (await this.#store.list(Prefix.intent)).value;
        for (const e of entries) {
          const parsed = parsePodTreeKey(e.key);
          if (!parsed) continue;
          const { node } = parsed;
          if (parsed.podId === podId) {
            occupied.add(node);
            continue;
          }
          const d = this.#demandOf(e.value);
          const u = used.get(node) ?? { cpus: 0, memory: 0 };
          used.set(node, { cpus: u.cpus + d.cpus, memory: u.memory + d.memory });
        }
      } else {
        for (const key of (await this.#store.keys(Prefix.intent)).value) {
          const parsed = parsePodTreeKey(key);
          if (parsed?.podId === podId) occupied.add(parsed.node);
        }
      }
    } catch (cause) {
      throw new SchedulerError(
        SchedulerErrorCode.STORE,
        `reading intent to place replicas: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
    const candidates: CandidateNode[] = [];
    const existing: CandidateNode[] = [];
    for (const n of nodes) {
      const reported = this.#capacityOf?.(n.id, n.labels);
      const candidate: CandidateNode = {
        name: n.id,
        labels: n.labels,
        used: used.get(n.id) ?? { cpus: 0, memory: 0 },
        occupied: occupied.has(n.id),
        ...(reported ? { capacity: reported } : {}),
      };
      if (current.has(n.id)) existing.push(candidate);
      else candidates.push(candidate);
    }
    return placeReplicas({
      candidates,
      count: request.count,
      demand: this.#capacity ? demand : { cpus: 0, memory: 0 },
      spreadKey: request.spreadKey,
      existing,
    });
  }

  #demandOf(raw: Uint8Array): Resources {
    const hash = createHash('sha1').update(raw).digest('hex');
    let d = this.#demandCache.get(hash);
    if (d === undefined) {
      try {
        d = podDemand(parseManifest(raw));
      } catch {
        d = { cpus: 0, memory: 0 }; // an unreadable intent claims nothing (the preparer will not run it)
      }
      if (this.#demandCache.size > 10_000) this.#demandCache.clear();
      this.#demandCache.set(hash, d);
    }
    return d;
  }
}
