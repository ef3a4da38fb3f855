/**
 * What p2 does with every key of the `preparer:` section and of its `params:` map: one table each,
 * so that reading the file (unknown keys), documenting it and checking a file
 * (`describePreparerKeys`) cannot disagree.
 */

/** What p2 does with one configuration key. */
export interface PreparerKeyInfo {
  /** Who defined the key: P2 (spec 02 §1.1, §1.2) or p2 (an addition). */
  readonly origin: 'P2' | 'p2';
  /**
   * `implemented`: read and acted on. `ignored`: accepted (and validated where it has a type) but
   * without effect; {@link PreparerKeyInfo.reason} says why.
   */
  readonly status: 'implemented' | 'ignored';
  /** Why an ignored key has no effect (one sentence). */
  readonly reason?: string;
}

const done = (origin: 'P2' | 'p2' = 'P2'): PreparerKeyInfo => ({ origin, status: 'implemented' });
const ignored = (reason: string, origin: 'P2' | 'p2' = 'P2'): PreparerKeyInfo => ({
  origin,
  status: 'ignored',
  reason,
});

/**
 * Every key of the `preparer:` section p2 accepts. Any other key is unknown and refused (P2 ignored
 * it silently, so a misspelt key quietly did nothing).
 */
export const PREPARER_KEYS: Readonly<Record<string, PreparerKeyInfo>> = Object.freeze({
  node_name: done(),
  store: done('p2'),
  consul_address: done(),
  consul_https: done(),
  consul_token_path: done(),
  hooks_directory: done(),
  pod_root: done(),
  require_file: done(),
  status_port: done(),
  status_socket: done(),
  auth: done(),
  artifact_auth: done(),
  log_level: done(),
  max_launchable_disk_usage: done(),
  ca_file: done(),
  hooks_required: done(),
  read_only_deploys: done(),
  read_only_whitelist: done(),
  read_only_blacklist: done(),
  params: done(),
  pod_whitelist_file: done(),
  service_root: done('p2'),
  local_artifact_dirs: done('p2'),
  health_check_interval: done('p2'),
  artifact_idle_timeout: done('p2'),
  removal_grace: done('p2'),
  health_check_host: done('p2'),
  require_preparer_in_intent: done('p2'),
  run_as_min_uid: done('p2'),
  run_as_allow: done('p2'),
  replay_guard: done('p2'),
  cgroup_parent: done('p2'),
  log_exec: done(),
  log_bridge_blacklist: done(),
  extra_log_destinations: done(),
  finish_exec: done(),
  artifact_registry_url: done(),
  cert_file: done(),
  key_file: done(),
  hooks_manifest: done(),
  opencontainer: done('p2'),
  auto_revert: done('p2'),
  tracing: done('p2'),
  // P2 features p2 does not have.
  http2: ignored('p2 speaks HTTP/1.1 to the store'),
  docker_host: ignored('p2 runs no docker pods'),
  container_json_key_file: ignored('p2 runs no docker pods'),
  docker_image_directory_whitelist: ignored('p2 runs no docker pods'),
  unix_socket_path_env_var: ignored('the store is reached by its URL, never over a unix socket'),
  consul_host_header: ignored('the store is reached by its URL, never over a unix socket'),
  additional_consul_headers: done(),
  consul_config: done(),
  os_version_file: done(),
  process_result_reporter_config: ignored(
    'the preparer records exits itself (status/preparer/<node>/<pod>, and process_status of status/pods/<uuid>/preparer), with no SQLite reporter',
  ),
  http_timeout: ignored('it had no effect in P2 either'),
  idle_conn_timeout: ignored("the HTTP client's idle timeout is fixed"),
});

/** Every name `params:` accepts (spec 02 §1.2); any other name is refused. */
export const PREPARER_PARAMS: Readonly<Record<string, PreparerKeyInfo>> = Object.freeze({
  healthcheck_timeout: done(),
  include_pod_id_arg: done(),
  nested_cgroups: done(),
  audit_log_sqlite_ttl: ignored(
    'validated; p2 keeps no SQLite hook audit log (hook runs are logged), so nothing expires',
  ),
  runc_path: done(),
  health_retry_time_sec: done(),
  health_session_ttl_sec: done(),
  health_writes_per_minute: done(),
  health_max_bucket_size: done(),
  health_resume_limit: done(),
  session_retry_seconds: done(),
  session_max_retry_seconds: done(),
});

/** One key of a configuration file, as {@link describePreparerKeys} reports it. */
export interface PreparerKeyReport {
  /** The key as written under `preparer:` (`params.<name>` for a param). */
  readonly key: string;
  /** `unknown`: not a key p2 knows (misspelt, or from a newer version). */
  readonly status: 'implemented' | 'ignored' | 'unknown';
  /** Who defined the key; absent for unknown keys. */
  readonly origin?: 'P2' | 'p2';
  /** Why an ignored key has no effect. */
  readonly reason?: string;
}

/**
 * The known key closest to a misspelt one (at most two edits away, as `git` and commander suggest),
 * or undefined.
 * @example closestPreparerKey('nodename') // 'node_name'
 */
export function closestPreparerKey(
  key: string,
  known: readonly string[] = Object.keys(PREPARER_KEYS),
): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/** Damerau–Levenshtein distance (optimal string alignment): edits, transpositions included. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** Whether `key` is a key of the `preparer:` section p2 knows (implemented or ignored). */
export function isKnownPreparerKey(key: string): boolean {
  return Object.hasOwn(PREPARER_KEYS, key);
}

function report(key: string, info: PreparerKeyInfo | undefined): PreparerKeyReport {
  if (!info) return { key, status: 'unknown' };
  return { key, ...info };
}

/**
 * {@link PreparerKeyReport}s for the keys of a `preparer:` mapping (and the names in its `params:`),
 * in the order they are written.
 * @internal
 */
export function describeSectionKeys(
  section: Readonly<Record<string, unknown>>,
): PreparerKeyReport[] {
  const reports: PreparerKeyReport[] = [];
  for (const key of Object.keys(section)) {
    reports.push(report(key, isKnownPreparerKey(key) ? PREPARER_KEYS[key] : undefined));
    const params = section[key];
    if (key !== 'params' || typeof params !== 'object' || params === null) continue;
    for (const name of Object.keys(params)) {
      const info = Object.hasOwn(PREPARER_PARAMS, name) ? PREPARER_PARAMS[name] : undefined;
      reports.push(report(`params.${name}`, info));
    }
  }
  return reports;
}
