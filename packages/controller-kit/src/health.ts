import { decodeHealthRecord, type HealthState, podHealthPrefix } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import { RcError, RcErrorCode } from './errors.js';

/** Where controllers learn pod health. */
export interface HealthSource {
  /** Health per node for one pod id; nodes without a record are absent. */
  podHealth(podId: string): Promise<Map<string, HealthState>>;
}

/**
 * Health read from the store's `health/<pod id>/<node>` records (what P2's preparers write), through
 * `@p2/keyspace`'s codec. An unreadable record says nothing about health: it reads as `unknown`.
 *
 * @example
 * ```ts
 * const health = new StoreHealthSource(store);
 * (await health.podHealth('hello')).get('node1'); // 'passing'
 * ```
 */
export class StoreHealthSource implements HealthSource {
  constructor(private readonly store: Store) {}

  async podHealth(podId: string): Promise<Map<string, HealthState>> {
    const prefix = podHealthPrefix(podId);
    let entries: Awaited<ReturnType<Store['list']>>['value'];
    try {
      entries = (await this.store.list(prefix)).value;
    } catch (cause) {
      throw new RcError(RcErrorCode.STORE, `reading ${prefix}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const out = new Map<string, HealthState>();
    for (const e of entries) {
      const node = e.key.slice(prefix.length);
      if (node === '' || node.includes('/')) continue;
      let status: HealthState = 'unknown';
      try {
        status = decodeHealthRecord(e.value, e.key).status;
      } catch {
        // an unreadable record says nothing about health
      }
      out.set(node, status);
    }
    return out;
  }
}
