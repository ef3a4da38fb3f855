/**
 * `@p2/roll` — rolling updates from one replication controller to another, gated on health: their
 * store (`RollStore`), the step math (`rollStep`, `surgeStep`), replica counting, the run that moves
 * counts step by step with a progress deadline and rollback, and the farm that claims updates.
 *
 * @packageDocumentation
 */
export {
  type ClaimedRollOptions,
  type ClaimedRollResult,
  runClaimedRollingUpdate,
} from './claimed-run.js';
export { countReplicas } from './count.js';
export { rollRefusals } from './preflight.js';
export { RollFarm, type RollFarmOptions } from './roll-farm.js';
export { type CreateRollRequest, RollStore } from './roll-store.js';
export { type RollOutcome, type RunRollOptions, runRollingUpdate } from './rolling-update.js';
export {
  type RollStepInput,
  type RollStepResult,
  rollStep,
  type SurgeStepInput,
  surgeStep,
} from './step.js';
export { type RollEnd, type WaitForRollOptions, waitForRoll } from './wait.js';
