import type { Store } from '@p2/kv';
import { RcError, RcErrorCode } from './errors.js';

/** P2's health states, worst first: critical < unknown < warning < passing. */
export const HEALTH_STATES = ['critical', 'unknown', 'warning', 'passing'] as const;

/** One of {@link HEALTH_STATES}. */
export type HealthState = (typeof HEALTH_STATES)[number];

/** Store prefix of health records (`health/<pod id>/<node>`). */
export const HEALTH_PREFIX = 'health/';

/** Maps any string to a state as P2 did: unknown strings read as `unknown`. */
export function healthStateOf(status: unknown): HealthState {
  const s = typeof status === 'string' ? status.toLowerCase() : '';
  return (HEALTH_STATES as readonly string[]).includes(s) ? (s as HealthState) : 'unknown';
}

/** Orders states worst-first (for sorting nodes least-healthy first). */
export function compareHealth(a: HealthState, b: HealthState): number {
  return HEALTH_STATES.indexOf(a) - HEALTH_STATES.indexOf(b);
}

/**
 * The status of a health record value (`{"Id","Node","Service","Status","Time","Expires"}`, field
 * names read case-insensitively as P2's readers did). Unreadable values read as `unknown`.
 */
export function decodeHealthStatus(value: string | Uint8Array): HealthState {
  const text = typeof value === 'string' ? value : new TextDecoder().decode(value);
  try {
    const obj = JSON.parse(text) as unknown;
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
      for (const [k, v] of Object.entries(obj))
        if (k.toLowerCase() === 'status') return healthStateOf(v);
    }
  } catch {
    // an unreadable record says nothing about health
  }
  return 'unknown';
}

/** The health record P2's preparer writes, for tests and simulated preparers. */
export function encodeHealthRecord(
  podId: string,
  node: string,
  status: HealthState,
  now = new Date(),
): string {
  const expires = new Date(now.getTime());
  expires.setUTCFullYear(expires.getUTCFullYear() + 100);
  return JSON.stringify({
    Id: podId,
    Node: node,
    Service: podId,
    Status: status,
    Time: now.toISOString(),
    Expires: expires.toISOString(),
  });
}

/** Where controllers learn pod health. */
export interface HealthSource {
  /** Health per node for one pod id; nodes without a record are absent. */
  podHealth(podId: string): Promise<Map<string, HealthState>>;
}

/**
 * Health read from the store's `health/<pod id>/<node>` records (what P2's preparers write).
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
    const prefix = `${HEALTH_PREFIX}${podId}/`;
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
      out.set(node, decodeHealthStatus(e.value));
    }
    return out;
  }
}
