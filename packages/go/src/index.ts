/**
 * `@p2/go`: Go's text formats that P2's data and Consul's API use, written once for every p2
 * package — durations, `encoding/json` output, RFC3339Nano times and `flag` values (the manifest's
 * `restart_timeout`, the preparer's config and `params:`, Consul's `?wait=`, session TTLs and lock
 * delays).
 *
 * @packageDocumentation
 */
export { formatGoDuration, parseGoDuration, parseGoDurationNs } from './duration.js';
export { parseGoBool, parseGoInt } from './flag.js';
export { goJson, sortedMap } from './json.js';
export { formatRfc3339Nano } from './time.js';
