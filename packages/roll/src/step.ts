/** Inputs of one roll step. */
export interface RollStepInput {
  /** Healthy replicas of the old RC (callers pass `min(healthy, desired)`). */
  oldHealthy: number;
  newHealthy: number;
  oldDesired: number;
  newDesired: number;
  /** The update's `DesiredReplicas`. */
  target: number;
  /** The update's `MinimumReplicas`. */
  minimum: number;
}

/** How many replicas to take from the old RC and give to the new one. */
export interface RollStepResult {
  remove: number;
  add: number;
}

/**
 * P2's roll step (spec 03 §2.5), for the `unavailable` strategy: never let old-healthy +
 * new-healthy drop below `minimum`, assume every new pod may replace an old one, and treat growth
 * of the total as free headroom.
 *
 * @example rollStep({ oldHealthy: 3, newHealthy: 0, oldDesired: 3, newDesired: 0, target: 3, minimum: 2 }) // { remove: 1, add: 1 }
 */
export function rollStep(input: RollStepInput): RollStepResult {
  const { oldHealthy, newHealthy, oldDesired, newDesired, target, minimum } = input;
  let headroom = oldHealthy + newHealthy - minimum;
  let increase = target - (oldDesired + newDesired);
  if (increase > 0) headroom += increase;
  else increase = 0;
  const remaining = target - newDesired;
  if (remaining <= 0) return { remove: 0, add: 0 };
  if (newHealthy >= minimum) return { remove: Math.max(0, remaining - increase), add: remaining };
  if (headroom <= 0) return { remove: 0, add: 0 };
  const add = Math.min(remaining, headroom);
  return { remove: Math.max(0, add - increase), add };
}

/** Inputs of a `surge` step: as {@link RollStepInput} plus the surge allowance. */
export interface SurgeStepInput extends RollStepInput {
  /** Replicas allowed above the total (old desired + new desired ≤ total + maxSurge). */
  maxSurge: number;
  /**
   * The total the update converges to: `max(target, old + new desired at the start)`, so a
   * canary (`target` below the old count) keeps the old RC's remainder. @default target
   */
  total?: number;
}

/**
 * The `surge` step (p2 extension, "new before old"): add new replicas while old + new stays within
 * `total + maxSurge`; take old replicas away only down to what keeps old-healthy + new-healthy ≥
 * `minimum` and only while old + new is above `total`. Unhealthy old replicas can always go.
 *
 * @example surgeStep({ oldHealthy: 3, newHealthy: 0, oldDesired: 3, newDesired: 0, target: 3, minimum: 3, maxSurge: 1 }) // { remove: 0, add: 1 }
 */
export function surgeStep(input: SurgeStepInput): RollStepResult {
  const { oldHealthy, newHealthy, oldDesired, newDesired, target, minimum } = input;
  const maxSurge = Math.max(1, input.maxSurge);
  const total = Math.max(target, input.total ?? target);
  const add = Math.max(
    0,
    Math.min(target - newDesired, total + maxSurge - (oldDesired + newDesired)),
  );
  const surplus = oldDesired + newDesired + add - total;
  const unhealthyOld = Math.max(0, oldDesired - oldHealthy);
  const healthBudget = Math.max(0, oldHealthy + newHealthy - minimum);
  // Without new healthy replicas, removing old ones only trades capacity away: wait for them.
  const remove =
    newDesired === 0 && add > 0
      ? 0
      : Math.max(0, Math.min(oldDesired, surplus, unhealthyOld + healthBudget));
  return { remove, add };
}

/**
 * Caps a step at `maxUnavailable` replicas taken away at once (0 = no cap beyond `minimum`).
 * @internal
 */
export function capUnavailable(step: RollStepResult, maxUnavailable: number): RollStepResult {
  if (maxUnavailable <= 0 || step.remove <= maxUnavailable) return step;
  const over = step.remove - maxUnavailable;
  return { remove: maxUnavailable, add: Math.max(0, step.add - over) };
}
