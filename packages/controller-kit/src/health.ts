import { decodeHealthRecord, type HealthState, podHealthPrefix } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { RcError, RcErrorCode } from './errors.js';

/** One node's health record for a pod: its status and the store index it was last written at. */
export interface NodeHealth {
  readonly status: HealthState;
  /** The record's `ModifyIndex`: on the store's one clock, comparable with any other key's. */
  readonly modifyIndex: number;
}

/** Where controllers learn pod health. */
export interface HealthSource {
  /** Health per node for one pod id; nodes without a record are absent. */
  podHealth(podId: string): Promise<Map<string, NodeHealth>>;
}

/** A node's status, `unknown` without a record. */
export function healthState(health: NodeHealth | undefined): HealthState {
  return health?.status ?? 'unknown';
}

/**
 * Whether a replica counts as healthy: its record says `passing` *and* was written after its
 * reality entry. A record that predates the reality entry vouches for the pod that ran before (the
 * preparer withdraws it before a deploy and writes it again once the new version runs, but a
 * record written before the deploy can still be read in between), so it does not count. The two
 * are compared by store index, not by the record's `Time`: that is the writing host's clock (and
 * the time of the last status *change*), while reality has no time at all; both keys' indexes come
 * from the store's one monotonic counter (Consul's raft index, etcd's revision).
 *
 * @example healthyAfter(health.get('node1'), (await store.get(realityKey('node1', 'web'))).value)
 */
export function healthyAfter(
  health: NodeHealth | undefined,
  reality: { readonly modifyIndex: number } | undefined,
): boolean {
  return (
    health?.status === 'passing' &&
    reality !== undefined &&
    health.modifyIndex > reality.modifyIndex
  );
}

/**
 * Health read from the store's `health/<pod id>/<node>` records (what P2's preparers write), through
 * `@p2/keyspace`'s codec. An unreadable record says nothing about health: it reads as `unknown`.
 *
 * @example
 * ```ts
 * const health = new StoreHealthSource(store);
 * (await health.podHealth('hello')).get('node1')?.status; // 'passing'
 * ```
 */
export class StoreHealthSource implements HealthSource {
  constructor(private readonly store: Store) {}

  async podHealth(podId: string): Promise<Map<string, NodeHealth>> {
    const prefix = podHealthPrefix(podId);
    let entries: Awaited<ReturnType<Store['list']>>['value'];
    try {
      entries = (await this.store.list(prefix)).value;
    } catch (cause) {
      throw new RcError(RcErrorCode.STORE, `reading ${prefix}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const out = new Map<string, NodeHealth>();
    for (const e of entries) {
      const node = e.key.slice(prefix.length);
      if (node === '' || node.includes('/')) continue;
      let status: HealthState = 'unknown';
      try {
        status = decodeHealthRecord(e.value, e.key).status;
      } catch {
        // an unreadable record says nothing about health
      }
      out.set(node, { status, modifyIndex: e.modifyIndex });
    }
    return out;
  }
}
