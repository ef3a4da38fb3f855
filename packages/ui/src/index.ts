/**
 * `@p2/ui`: a read-only web dashboard of the fleet (`p2 ui`) — nodes × pods with their verdicts,
 * one pod's manifest, versions, deploy steps and exits, replication controllers, rolling updates
 * and daemon sets — kept live from one shared store watch and served on loopback by default.
 *
 * @packageDocumentation
 */
export { UiError, UiErrorCode } from './errors.js';
export type { StoreState } from './hub.js';
export { DEFAULT_LISTEN, isLoopback, type ListenAddress, parseListen } from './listen.js';
export type { PodView } from './pod.js';
export { startUiServer, type UiServer, type UiServerOptions } from './server.js';
export type { FleetDiff, FleetRow, FleetSnapshot } from './snapshot.js';
