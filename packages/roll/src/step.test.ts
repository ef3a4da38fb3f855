import { describe, expect, it } from 'vitest';
import { capUnavailable, rollStep, surgeStep } from './step.js';

describe('rollStep (P2, spec 03 §2.5 examples)', () => {
  it.each([
    [3, 0, 3, 0, 3, 2, 1, 1],
    [2, 2, 4, 2, 6, 3, 1, 1],
    [1, 3, 3, 3, 6, 3, 3, 3],
    [3, 0, 6, 0, 6, 0, 6, 6],
    [0, 0, 0, 0, 3, 2, 0, 1],
    [3, 0, 3, 0, 4, 2, 1, 2],
    [3, 0, 3, 0, 4, 3, 0, 1],
    [1, 1, 2, 1, 3, 4, 0, 0],
    [1, 1, 1, 2, 3, 1, 1, 1],
  ])(
    'old %i new %i oldDesired %i newDesired %i target %i min %i → remove %i add %i',
    (oldHealthy, newHealthy, oldDesired, newDesired, target, minimum, remove, add) => {
      expect(rollStep({ oldHealthy, newHealthy, oldDesired, newDesired, target, minimum })).toEqual(
        {
          remove,
          add,
        },
      );
    },
  );

  it('does nothing once the new RC has the target', () => {
    expect(
      rollStep({
        oldHealthy: 0,
        newHealthy: 0,
        oldDesired: 0,
        newDesired: 3,
        target: 3,
        minimum: 3,
      }),
    ).toEqual({ remove: 0, add: 0 });
  });
});

describe('surgeStep', () => {
  it('adds first, within the surge allowance, before removing anything', () => {
    expect(
      surgeStep({
        oldHealthy: 3,
        newHealthy: 0,
        oldDesired: 3,
        newDesired: 0,
        target: 3,
        minimum: 3,
        maxSurge: 1,
      }),
    ).toEqual({ remove: 0, add: 1 });
  });

  it('removes an old replica once a new one is healthy, keeping the minimum', () => {
    expect(
      surgeStep({
        oldHealthy: 3,
        newHealthy: 1,
        oldDesired: 3,
        newDesired: 1,
        target: 3,
        minimum: 3,
        maxSurge: 1,
      }),
    ).toEqual({ remove: 1, add: 0 });
  });

  it('never removes below the minimum while new replicas are unhealthy', () => {
    expect(
      surgeStep({
        oldHealthy: 3,
        newHealthy: 0,
        oldDesired: 3,
        newDesired: 1,
        target: 3,
        minimum: 3,
        maxSurge: 1,
      }),
    ).toEqual({ remove: 0, add: 0 });
  });

  it('removes unhealthy old replicas freely', () => {
    expect(
      surgeStep({
        oldHealthy: 1,
        newHealthy: 0,
        oldDesired: 3,
        newDesired: 1,
        target: 3,
        minimum: 1,
        maxSurge: 1,
      }),
    ).toEqual({ remove: 1, add: 0 });
  });

  it('a larger surge adds several at once and finishes at the target', () => {
    expect(
      surgeStep({
        oldHealthy: 4,
        newHealthy: 0,
        oldDesired: 4,
        newDesired: 0,
        target: 4,
        minimum: 4,
        maxSurge: 2,
      }),
    ).toEqual({ remove: 0, add: 2 });
    expect(
      surgeStep({
        oldHealthy: 0,
        newHealthy: 4,
        oldDesired: 1,
        newDesired: 4,
        target: 4,
        minimum: 4,
        maxSurge: 2,
      }),
    ).toEqual({ remove: 1, add: 0 });
  });
});

describe('capUnavailable', () => {
  it('limits removals and the additions that depend on them', () => {
    expect(capUnavailable({ remove: 6, add: 6 }, 2)).toEqual({ remove: 2, add: 2 });
    expect(capUnavailable({ remove: 1, add: 2 }, 1)).toEqual({ remove: 1, add: 2 });
    expect(capUnavailable({ remove: 6, add: 6 }, 0)).toEqual({ remove: 6, add: 6 });
  });
});

describe('surgeStep with a canary total', () => {
  it('keeps the old remainder when the target is below the starting total', () => {
    // 3 old, canary of 1: add 1 first, then take 1 old away once it is healthy: old ends at 2.
    expect(
      surgeStep({
        oldHealthy: 3,
        newHealthy: 0,
        oldDesired: 3,
        newDesired: 0,
        target: 1,
        minimum: 3,
        maxSurge: 1,
        total: 3,
      }),
    ).toEqual({ remove: 0, add: 1 });
    expect(
      surgeStep({
        oldHealthy: 3,
        newHealthy: 1,
        oldDesired: 3,
        newDesired: 1,
        target: 1,
        minimum: 3,
        maxSurge: 1,
        total: 3,
      }),
    ).toEqual({ remove: 1, add: 0 });
    expect(
      surgeStep({
        oldHealthy: 2,
        newHealthy: 1,
        oldDesired: 2,
        newDesired: 1,
        target: 1,
        minimum: 3,
        maxSurge: 1,
        total: 3,
      }),
    ).toEqual({ remove: 0, add: 0 });
  });
});
