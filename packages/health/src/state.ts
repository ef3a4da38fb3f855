/**
 * Ordering P2's health states (worst → best: `critical` < `unknown` < `warning` < `passing`). The
 * states and how a stored status reads are `@p2/keyspace`'s (`HEALTH_STATES`, `parseHealthState`).
 */
import { type HealthState, isHealthState } from '@p2/keyspace';

export type { HealthState };

const ORDINAL: Readonly<Record<HealthState, number>> = {
  critical: 0,
  unknown: 1,
  warning: 2,
  passing: 3,
};

/**
 * The rank of a state, worst (0, `critical`) to best (3, `passing`). As in P2, a string that is not a
 * state ranks as `critical` (note: `parseHealthState` reads such a string as `unknown`; both are P2's rules).
 */
export function healthOrdinal(state: string): number {
  return isHealthState(state) ? ORDINAL[state] : ORDINAL.critical;
}

/** Sort comparator, worst first. @example ['passing','critical'].sort(compareHealth) // ['critical','passing'] */
export function compareHealth(a: string, b: string): number {
  return healthOrdinal(a) - healthOrdinal(b);
}

/** The worst of the given states; `unknown` for none. @example worstHealth(['passing','warning']) // 'warning' */
export function worstHealth(states: Iterable<string>): HealthState {
  let worst: HealthState | undefined;
  for (const s of states) {
    const state = isHealthState(s) ? s : 'critical';
    if (worst === undefined || ORDINAL[state] < ORDINAL[worst]) worst = state;
  }
  return worst ?? 'unknown';
}

/** The best of the given states; `unknown` for none. @example bestHealth(['critical','warning']) // 'warning' */
export function bestHealth(states: Iterable<string>): HealthState {
  let best: HealthState | undefined;
  for (const s of states) {
    const state = isHealthState(s) ? s : 'critical';
    if (best === undefined || ORDINAL[state] > ORDINAL[best]) best = state;
  }
  return best ?? 'unknown';
}

/** True when `state` is at least `threshold` (e.g. a deploy gate of `warning` accepts `warning` and `passing`). */
export function isAtLeast(state: string, threshold: HealthState): boolean {
  return healthOrdinal(state) >= ORDINAL[threshold];
}
