/**
 * `@p2/logs`: moving log lines without ever blocking whoever writes them — the log bridge between
 * a service and its log command (a durable copy with backpressure, a lossy rate-limited copy to a
 * log shipper), and unix socket log destinations for the preparer's own log.
 *
 * @packageDocumentation
 */
export {
  type BridgeLogger,
  type LogBridgeOptions,
  type LogBridgeReport,
  runLogBridge,
} from './bridge.js';
export { LogsError, LogsErrorCode } from './errors.js';
export {
  type LossyDestination,
  type LossyLimits,
  type LossyReport,
  parseLossyDestination,
} from './lossy.js';
export {
  openSocketLogDestination,
  SocketLogDestination,
  type SocketLogDestinationOptions,
  type SocketLogDrop,
} from './socket-destination.js';
