/**
 * How late this process's event loop has run lately. A client that lags (a loaded host, or
 * thousands of simulated agents on one thread) runs expired timers before it reads its sockets, so
 * an answer that arrived in time can lose to its deadline. Deadlines that are this client's own
 * business — an etcd attempt's — add the recent lag: a member is blamed for its slowness, not ours.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** How long a lag counts as recent: it is remembered for one to two windows. */
const WINDOW_MS = 5_000;
/** The histogram's sampling period: a late timer of this period measures the lag. */
const RESOLUTION_MS = 50;

let histogram: IntervalHistogram | undefined;
let users = 0;
let windowStart = 0;
let previousMaxMs = 0;

/**
 * Starts measuring (shared by every caller in the process; libuv's unreferenced timer, so it keeps
 * no process alive). Returns the function that stops this caller's use of it.
 * @internal
 */
export function useLoopLag(): () => void {
  users++;
  if (histogram === undefined) {
    histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    histogram.enable();
    windowStart = performance.now();
    previousMaxMs = 0;
  }
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    if (--users === 0) {
      histogram?.disable();
      histogram = undefined;
    }
  };
}

/**
 * The largest delay of the event loop in the last one to two windows (5–10 s), in ms; 0 when
 * nothing measures ({@link useLoopLag}).
 * @internal
 */
export function recentLoopLagMs(): number {
  if (histogram === undefined) return 0;
  const now = performance.now();
  if (now - windowStart >= WINDOW_MS) {
    // A window is over: its max becomes the previous one (none, if it ended long ago).
    previousMaxMs = now - windowStart < 2 * WINDOW_MS ? histogram.max / 1e6 : 0;
    histogram.reset();
    windowStart = now;
  }
  // The histogram's max is the delay beyond its period (0 until it has a sample).
  const current = histogram.count > 0 ? histogram.max / 1e6 : 0;
  return Math.max(previousMaxMs, current);
}
