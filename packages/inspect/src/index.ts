/**
 * `@p2/inspect`: what a store says about every pod — intent vs reality vs health vs the preparer's
 * status, joined per node and pod with a one-word verdict, once ({@link inspectStore}) or live
 * ({@link watchInspection}); plus P2's `p2-inspect` JSON shapes; and about controllers and labels,
 * shaped for display ({@link inspectRc}, {@link inspectRolls}, {@link inspectDaemonSet},
 * {@link queryLabels}); and raw entries ({@link entryView}); and waiting for one pod ({@link waitForPod}) or a controller's pods ({@link waitForController}). Used by `p2 inspect`, `p2 watch`, `p2 rc|roll|ds|label`, and by anything
 * else that shows a fleet (a dashboard).
 *
 * @packageDocumentation
 */
export {
  type DsView,
  dsView,
  entityLabels,
  inspectDaemonSet,
  inspectRc,
  inspectRolls,
  type LabelView,
  listDaemonSets,
  listRcs,
  type NodeTransferView,
  queryLabels,
  type RcView,
  type RollView,
  rcView,
} from './controllers.js';
export {
  describePod,
  type NodeDescription,
  type NodeHistory,
  type PodDescription,
  podHistory,
} from './describe.js';
export { type EntryView, entryView } from './entry.js';
export {
  type InspectFilter,
  type Inspection,
  inspectStore,
  type LaunchableVersion,
  type P2InspectStatus,
  type PodInspection,
  type PreparerStatus,
  p2InspectList,
  p2InspectTree,
} from './inspect.js';
export { inspectionJson } from './json.js';
export { type ControllerKind, type ControllerLiveness, controllerLiveness } from './liveness.js';
export { listNodes, type NodeView, suggestNodes } from './nodes.js';
export {
  CRASHLOOP_EXITS,
  CRASHLOOP_WINDOW_MS,
  type LaunchableExits,
  launchableExits,
} from './processes.js';
export { type DeployTrace, deployTrace, type HostTrace, renderWaterfall } from './trace.js';
export {
  type PodGoal,
  type PodWaitEnd,
  podProgress,
  type WaitForPodOptions,
  waitForPod,
} from './wait.js';
export {
  type ControllerGoal,
  type ControllerWaitEnd,
  controllerProgress,
  type WaitForControllerOptions,
  waitForController,
} from './wait-controller.js';
export { watchInspection } from './watch.js';
