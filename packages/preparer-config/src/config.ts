/**
 * The preparer's configuration: P2's `preparer:` keys and defaults (spec 02 §1.1), plus p2's own
 * additions (`store`, `service_root`, `local_artifact_dirs`, …). Reading is lenient where P2 was
 * (unknown keys are ignored, as P2 did) and strict about values: a wrong type names the key, what was
 * expected and what was found. What p2 does with each key is in ./keys.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AuthConfig } from '@p2/auth';
import { normalizeCgroupPath } from '@p2/cgroups';
import { parseGoDuration } from '@p2/go';
import { type Manifest, parseManifest } from '@p2/manifest';
import { parse as parseYaml } from 'yaml';
import { PreparerConfigError, PreparerConfigErrorCode } from './errors.js';
import { closestPreparerKey, describeSectionKeys, type PreparerKeyReport } from './keys.js';
import { parseParams } from './params.js';
import { invalid, parseSize, type Raw, Reader } from './reader.js';
import {
  type ArtifactAuthConfig,
  type AutoRevertConfig,
  artifactAuth,
  artifactRegistryUrl,
  autoRevert,
  deployerAuth,
  type LogDestination,
  localArtifactDirs,
  logDestinations,
  type OpencontainerSettings,
  opencontainer,
  osVersionFile,
  type ReplayGuardSettings,
  replayGuard,
  runAsAllow,
  storeUrlFrom,
  tracing,
} from './sections.js';

/** The preparer's settings, read from the `preparer:` mapping by {@link parsePreparerConfig}. */
export interface PreparerConfig {
  nodeName: string;
  /** Store URL (`consul://host:port`, `consul+https://…`, `etcd://…`); derived from consul_address when unset. */
  store: string;
  consulTokenPath?: string;
  hooksDirectory: string;
  podRoot: string;
  requireFile?: string;
  podWhitelistFile?: string;
  statusPort: number;
  statusSocket?: string;
  /** Deployer policy, validated by @p2/auth. */
  auth: AuthConfig;
  artifactAuth: ArtifactAuthConfig;
  /**
   * Replay guard (`replay_guard:`): on by default whenever `auth.type` is not `none`; undefined
   * when off (`enabled: false`, or `auth: none`, where nothing is signed).
   */
  replayGuard?: ReplayGuardSettings;
  logLevel: string;
  /** Bytes of installs kept per launchable before pruning. @default 10 GiB */
  maxLaunchableDiskUsage: number;
  /**
   * `log_exec`: every pod service's log command, run as the log user (nobody) in place of svlogd,
   * with the service's output on stdin; undefined (or empty): svlogd. Taken by each pod at its
   * next deploy.
   */
  logExec?: string[];
  /** `log_bridge_blacklist`: pods whose services get plain svlogd whatever `logExec` says. */
  logBridgeBlacklist: string[];
  /** `finish_exec`: run as the log user after each exit of a pod service, with its exit code and status. */
  finishExec?: string[];
  /** `extra_log_destinations`: unix sockets the preparer's own log entries also go to. */
  extraLogDestinations: LogDestination[];
  /**
   * `consul_config.watch_wait_time`: the store client's blocking-query wait, as configured (1 s
   * to Consul's cap of 10 m; P2 raised anything below 5 m to 5 m). Undefined: the client's 30 s.
   */
  storeWaitMs?: number;
  /**
   * `additional_consul_headers`: sent with every store request (Consul API stores; the etcd
   * backend refuses them). P2 sent them only over its unix socket. Never logged.
   */
  storeHeaders?: Record<string, string>;
  /**
   * `artifact_registry_url`: the http(s) registry `version:` launchables are resolved through
   * (a manifest's `artifact_registry` wins).
   */
  artifactRegistryUrl?: string;
  /**
   * `os_version_file`: the release file whose OS and version the registry is told (absolute).
   * Unset: `/etc/redhat-release` (P2's), else `/etc/os-release` (see @p2/hoist's `readOsRelease`).
   */
  osVersionFile?: string;
  /** `ca_file`: PEM CA trusted for the store and artifact downloads. */
  caFile?: string;
  /** `cert_file`: PEM client certificate for the store and artifact downloads (with `keyFile`). */
  certFile?: string;
  /** `key_file`: its private key (root's, mode 600). */
  keyFile?: string;
  /**
   * The hook pod's manifest (`hooks_manifest`, a whole manifest as text), parsed; undefined for
   * `no_hooks` (or when absent). The preparer installs it at start (`@p2/host-agent`'s
   * `installHookPod`).
   */
  hooksManifest?: Manifest;
  hooksRequired: string[];
  readOnlyDeploys: boolean;
  readOnlyWhitelist: string[];
  readOnlyBlacklist: string[];
  params: Record<string, string>;
  /** Directory the preparer's runsvdir supervises. @default /var/service */
  serviceRoot: string;
  /**
   * Directories local (`file:` or plain-path) artifact, digest and signature locations may come
   * from (`local_artifact_dirs`); others are refused. Absolute; `[]` refuses every local location.
   * @default ['/var/lib/p2/artifacts'] (the directory p2-bootstrap writes)
   */
  localArtifactDirs: string[];
  /**
   * How pod cgroups are named (`@p2/cgroups`' `CgroupNaming`): `nested` is P2's
   * `params.nested_cgroups` (flat `<pod>__<launchable>` when false, as P2's default), `parent` is
   * `cgroup_parent`, an existing cgroup below each controller's mount that every pod cgroup goes
   * in. @default { nested: false, parent: '' }
   */
  cgroupNaming: { nested: boolean; parent: string };
  /** Container pods (`launchable_type: opencontainer`): the runc binary and what bundles may ask beyond the policy. */
  opencontainer: OpencontainerSettings;
  /**
   * P2's `params.include_pod_id_arg`, with nested names: the pod's cgroup `p2/<node>/<pod>` is
   * limited by the manifest's `resource_limits.cgroup`. Always false without nested names.
   */
  podCgroupLimits: boolean;
  /** Host name health checks connect to (P2: the node name). */
  healthCheckHost?: string;
  /** Host-local auto-revert of updates that do not get healthy (`auto_revert`). */
  autoRevert: AutoRevertConfig;
  /** OTLP/HTTP export of deploy traces (`tracing.otlp_endpoint`); absent: none. */
  tracing?: { otlpEndpoint: string };
  /** How often to check pod health. @default 1000 ms */
  healthCheckIntervalMs: number;
  /**
   * p2's `artifact_idle_timeout`: the longest silence while an artifact's body streams before the
   * attempt is abandoned and retried (a server that stalls mid-body). @default 60_000 ms
   */
  artifactIdleTimeoutMs: number;
  /**
   * p2's `removal_grace`: how long a pod removed from intent keeps running in case new intent for
   * it follows (a rolling update writes the old RC's removal and the new RC's intent separately;
   * within the grace they are one update in place). 0: removals happen at once, as in P2.
   * @default 1000 ms
   */
  removalGraceMs: number;
  /** Health check timeout (param healthcheck_timeout, seconds). @default 5000 ms */
  healthCheckTimeoutMs: number;
  /**
   * How health records are written (spec 02 §8), from P2's params: the session's TTL
   * (`health_session_ttl_sec`, 15 s), its re-creation backoff (`session_retry_seconds` 10 s,
   * doubled up to `session_max_retry_seconds` 300 s), the pause after a failed write
   * (`health_retry_time_sec`, 5 s) and the flap control token bucket (`health_max_bucket_size` 16,
   * `health_writes_per_minute` 4, `unknown` held for `health_resume_limit` 4 refill periods).
   */
  healthWriter: {
    sessionTtlMs: number;
    sessionRetryBaseMs: number;
    sessionRetryMaxMs: number;
    publishRetryMs: number;
    flapControl: { burst: number; refillPerMinute: number; holdRefillPeriods: number };
  };
  /**
   * Ignore intent snapshots that lack pod `p2-preparer` (P2's guard against a wiped or corrupt
   * store). Turn off only on hosts whose preparer is not itself a pod. @default true
   */
  requirePreparerInIntent: boolean;
  /** Which accounts pods may run as (`run_as_min_uid`, `run_as_allow`; see @p2/pods RunAsPolicy). */
  runAs: { minUid: number; allow: Record<string, string[]> };
  /** Keys the file sets that p2 accepts without acting on them, with the reason (logged at start). */
  ignoredKeys: { key: string; reason: string }[];
  /** Settings that load but have no effect, each one sentence (logged once at start). */
  warnings: string[];
}

/**
 * The `preparer:` mapping of a configuration file, values unchecked.
 * @throws PreparerConfigError `P2_PREPARER_CONFIG_INVALID` when the text is not YAML or has no `preparer:` mapping.
 * @internal
 */
function readPreparerSection(text: string, where: string): Raw {
  let document: unknown;
  try {
    document = parseYaml(text, { uniqueKeys: false });
  } catch (error) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_INVALID,
      `${where}: not valid YAML: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_INVALID,
      `${where}: expected a mapping with a \`preparer:\` key`,
    );
  }
  const top = (document as Raw).preparer;
  if (typeof top !== 'object' || top === null || Array.isArray(top)) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_INVALID,
      `${where}: expected a \`preparer:\` mapping, found ${JSON.stringify(top ?? null)}`,
      {
        hint: 'the preparer reads the `preparer:` key of its pod config (config: {preparer: {...}} in its manifest)',
      },
    );
  }
  return top as Raw;
}

/**
 * Refuses keys p2 does not know, all of them in one message, each with the known key it most
 * likely meant: a misspelt key would otherwise do nothing without a word.
 * @throws PreparerConfigError `P2_PREPARER_CONFIG_INVALID`
 */
function refuseUnknownKeys(raw: Raw, where: string): void {
  // Unknown `params:` names are refused with the list of known ones where params are read.
  const unknown = describeSectionKeys(raw).filter(
    (k) => k.status === 'unknown' && !k.key.startsWith('params.'),
  );
  if (unknown.length === 0) return;
  const named = unknown.map((k) => {
    const guess = closestPreparerKey(k.key);
    return `preparer.${k.key}${guess ? ` (did you mean preparer.${guess}?)` : ''}`;
  });
  throw new PreparerConfigError(
    PreparerConfigErrorCode.CONFIG_INVALID,
    `${where}: unknown key${named.length > 1 ? 's' : ''} ${named.join(', ')}`,
    {
      hint: '`p2-preparer --check-config FILE` lists every key with what p2 does with it',
      details: { keys: unknown.map((k) => `preparer.${k.key}`) },
    },
  );
}

/**
 * Parses preparer configuration text (the YAML document with a top-level `preparer:` key).
 * @throws PreparerConfigError `P2_PREPARER_CONFIG_INVALID` naming the key, the expected and the found value.
 */
export function parsePreparerConfig(text: string, where = 'preparer config'): PreparerConfig {
  const raw = readPreparerSection(text, where);
  refuseUnknownKeys(raw, where);
  const r = new Reader(raw, where);
  const nodeName = r.string('node_name') ?? hostname();

  const sizeText = raw.max_launchable_disk_usage;
  let maxLaunchableDiskUsage = 10 * 2 ** 30;
  if (sizeText !== undefined && sizeText !== null) {
    const parsed = typeof sizeText === 'number' ? sizeText : parseSize(String(sizeText));
    if (parsed === undefined)
      throw invalid(where, 'max_launchable_disk_usage', 'a size such as 10G or 512M', sizeText);
    maxLaunchableDiskUsage = parsed;
  }

  const { text: params, params: typed } = parseParams(r.map('params') ?? {}, where);
  const intervalText = r.string('health_check_interval') ?? '1s';
  const healthCheckIntervalMs = parseGoDuration(intervalText.trim());
  if (healthCheckIntervalMs === undefined || healthCheckIntervalMs <= 0) {
    throw invalid(where, 'health_check_interval', 'a duration such as 1s', intervalText);
  }

  const idleText = r.string('artifact_idle_timeout') ?? '60s';
  const artifactIdleTimeoutMs = parseGoDuration(idleText.trim());
  if (artifactIdleTimeoutMs === undefined || artifactIdleTimeoutMs < 100)
    throw invalid(
      where,
      'artifact_idle_timeout',
      'a duration of at least 100ms such as 60s',
      idleText,
    );

  const graceText = r.string('removal_grace') ?? '1s';
  const removalGraceMs = parseGoDuration(graceText.trim());
  if (removalGraceMs === undefined || removalGraceMs < 0 || removalGraceMs > 60_000)
    throw invalid(
      where,
      'removal_grace',
      'a duration from 0s (remove at once, as P2) to 60s, such as 1s',
      graceText,
    );

  // P2 refused an empty value (a template that rendered nothing must not mean "no hooks").
  const hooksManifest = hooksManifestFrom(
    raw.hooks_manifest === '' ? '' : r.string('hooks_manifest'),
    where,
  );
  const auth = deployerAuth(r, where);
  const warnings: string[] = [];
  const rawAuth = raw.auth as Raw;
  if (auth.type === 'none' && rawAuth.multi_signature !== undefined) {
    warnings.push(
      'preparer.auth.multi_signature has no effect with auth type none (signatures are not checked)',
    );
  }
  const replay = replayGuard(r, where, auth, warnings);
  if (typed.includePodIdArg && !typed.nestedCgroups)
    warnings.push(
      'preparer.params.include_pod_id_arg has no effect without params.nested_cgroups: with flat cgroup names no cgroup holds a whole pod (P2 made an empty one)',
    );
  const config: PreparerConfig = {
    nodeName,
    store: storeUrlFrom(r),
    hooksDirectory: r.string('hooks_directory') ?? '/usr/local/p2hooks.d',
    podRoot: r.string('pod_root') ?? '/data/pods',
    statusPort: r.int('status_port', 0),
    auth,
    artifactAuth: artifactAuth(r, where),
    logLevel: r.string('log_level') ?? 'info',
    maxLaunchableDiskUsage,
    logBridgeBlacklist: r.strings('log_bridge_blacklist'),
    extraLogDestinations: logDestinations(raw, where),
    hooksRequired: r.strings('hooks_required'),
    readOnlyDeploys: r.bool('read_only_deploys', false),
    readOnlyWhitelist: r.strings('read_only_whitelist'),
    readOnlyBlacklist: r.strings('read_only_blacklist'),
    params,
    serviceRoot: r.string('service_root') ?? '/var/service',
    localArtifactDirs: localArtifactDirs(r, raw, where),
    cgroupNaming: { nested: typed.nestedCgroups, parent: cgroupParent(r, where) },
    opencontainer: opencontainer(raw, where, params.runc_path),
    podCgroupLimits: typed.includePodIdArg && typed.nestedCgroups,
    healthCheckIntervalMs,
    autoRevert: autoRevert(r, where),
    ...(r.map('tracing') ? { tracing: tracing(r, where) } : {}),
    artifactIdleTimeoutMs,
    removalGraceMs,
    healthCheckTimeoutMs: typed.healthcheckTimeoutSeconds * 1000,
    healthWriter: {
      sessionTtlMs: typed.healthSessionTtlSeconds * 1000,
      sessionRetryBaseMs: typed.sessionRetrySeconds * 1000,
      sessionRetryMaxMs: typed.sessionMaxRetrySeconds * 1000,
      publishRetryMs: typed.healthRetryTimeSeconds * 1000,
      flapControl: {
        burst: typed.healthMaxBucketSize,
        refillPerMinute: typed.healthWritesPerMinute,
        holdRefillPeriods: typed.healthResumeLimit,
      },
    },
    requirePreparerInIntent: r.bool('require_preparer_in_intent', true),
    runAs: { minUid: r.int('run_as_min_uid', 1000), allow: runAsAllow(r, where) },
    ignoredKeys: describeSectionKeys(raw).flatMap((k) =>
      k.status === 'ignored' ? [{ key: k.key, reason: k.reason ?? '' }] : [],
    ),
    warnings,
  };
  const optional = {
    consulTokenPath: r.string('consul_token_path'),
    requireFile: r.string('require_file'),
    podWhitelistFile: r.string('pod_whitelist_file'),
    statusSocket: r.string('status_socket'),
    storeWaitMs: storeWaitMs(r, where),
    storeHeaders: storeHeaders(r, where),
    logExec: raw.log_exec === undefined ? undefined : r.strings('log_exec'),
    finishExec: raw.finish_exec === undefined ? undefined : r.strings('finish_exec'),
    artifactRegistryUrl: artifactRegistryUrl(r, where),
    osVersionFile: osVersionFile(r, where),
    healthCheckHost: r.string('health_check_host'),
    caFile: r.string('ca_file'),
    certFile: r.string('cert_file'),
    keyFile: r.string('key_file'),
    hooksManifest,
    replayGuard: replay,
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) Object.assign(config, { [key]: value });
  }
  if ((config.certFile === undefined) !== (config.keyFile === undefined)) {
    throw invalid(
      where,
      config.certFile ? 'key_file' : 'cert_file',
      'cert_file and key_file to be set together',
      null,
    );
  }
  const logLevels = ['fatal', 'error', 'warn', 'warning', 'info', 'debug', 'trace', 'panic'];
  if (!logLevels.includes(config.logLevel))
    throw invalid(where, 'log_level', `one of ${logLevels.join(', ')}`, config.logLevel);
  return config;
}

/** `consul_config.watch_wait_time` (a Go duration, 1s to 10m), the only key of `consul_config`. */
function storeWaitMs(r: Reader, where: string): number | undefined {
  const section = r.map('consul_config');
  if (section === undefined) return undefined;
  for (const key of Object.keys(section))
    if (key !== 'watch_wait_time')
      throw invalid(
        where,
        `consul_config.${key}`,
        'no other key than watch_wait_time',
        section[key],
      );
  const text = new Reader(section, where).string('watch_wait_time');
  if (text === undefined) return undefined;
  const ms = parseGoDuration(text.trim());
  if (ms === undefined || ms < 1000 || ms > 600_000)
    throw invalid(where, 'consul_config.watch_wait_time', 'a duration from 1s to 10m', text);
  return ms;
}

/** `additional_consul_headers`: a mapping of header names to string values. */
function storeHeaders(r: Reader, where: string): Record<string, string> | undefined {
  const section = r.map('additional_consul_headers');
  if (section === undefined) return undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(section)) {
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name))
      throw invalid(where, 'additional_consul_headers', 'HTTP header names', name);
    // The value is a credential as often as not: never shown.
    if (typeof value !== 'string')
      throw invalid(where, `additional_consul_headers.${name}`, 'a string', '(not shown)');
    headers[name] = value;
  }
  return Object.keys(headers).length > 0 ? headers : undefined;
}

/** `cgroup_parent`: a cgroup path below each mount, checked and without outer `/`; '' = the mount. */
function cgroupParent(r: Reader, where: string): string {
  const text = r.string('cgroup_parent');
  if (text === undefined) return '';
  try {
    return normalizeCgroupPath(text);
  } catch {
    throw invalid(
      where,
      'cgroup_parent',
      'a cgroup path below each controller mount, such as p2.slice (plain names, no ..)',
      text,
    );
  }
}

/**
 * `hooks_manifest`: P2 required either a manifest or the literal `no_hooks` (p2 also accepts the key
 * absent, as `no_hooks`). An empty value or text that is not a manifest is refused here, naming the
 * key, so `--check-config` catches it.
 */
function hooksManifestFrom(text: string | undefined, where: string): Manifest | undefined {
  if (text === undefined || text.trim() === 'no_hooks') return undefined;
  if (text.trim() === '')
    throw invalid(where, 'hooks_manifest', 'a pod manifest, or no_hooks', text);
  try {
    return parseManifest(text, { source: `${where}: preparer.hooks_manifest` });
  } catch (error) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_INVALID,
      `${where}: preparer.hooks_manifest is not a pod manifest: ${(error as Error).message}`,
      {
        cause: error,
        details: { key: 'preparer.hooks_manifest' },
        hint: 'give the hook pod manifest as a YAML block (hooks_manifest: |), or no_hooks',
      },
    );
  }
}

/**
 * Loads the configuration from `CONFIG_PATH` (as P2 did) or an explicit path.
 * @throws PreparerConfigError `P2_PREPARER_CONFIG_MISSING` when no path is given or the file does not exist.
 */
export function loadPreparerConfig(
  path: string | undefined = process.env.CONFIG_PATH,
): PreparerConfig {
  if (!path) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_MISSING,
      'no configuration: CONFIG_PATH is not set',
      {
        hint: 'set CONFIG_PATH to a YAML file with a `preparer:` key, or pass --config FILE',
      },
    );
  }
  if (!existsSync(path)) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_MISSING,
      `configuration file ${path} does not exist`,
    );
  }
  return parsePreparerConfig(readFileSync(path, 'utf8'), path);
}

/**
 * Says, for every key of a configuration file's `preparer:` mapping (and every name in its
 * `params:`), whether p2 implements it, ignores it (and why) or does not know it, in file order —
 * what `p2-preparer --check-config` prints. Values are not checked; {@link parsePreparerConfig} does that.
 *
 * @throws PreparerConfigError `P2_PREPARER_CONFIG_INVALID` when the text is not YAML or has no `preparer:` mapping.
 * @example
 * ```ts
 * describePreparerKeys('preparer:\n  node_name: h1\n  http2: true\n  nodename: typo\n');
 * // [{ key: 'node_name', status: 'implemented', origin: 'P2' },
 * //  { key: 'http2', status: 'ignored', origin: 'P2', reason: 'p2 speaks HTTP/1.1 to the store' },
 * //  { key: 'nodename', status: 'unknown' }]
 * ```
 */
export function describePreparerKeys(text: string, where = 'preparer config'): PreparerKeyReport[] {
  return describeSectionKeys(readPreparerSection(text, where));
}

/**
 * The read-only default of a pod whose manifest does not say (spec 02 §2.3): `read_only_blacklist`
 * wins over `read_only_whitelist`, which wins over `read_only_deploys`.
 *
 * @example
 * ```ts
 * const readOnly = readOnlyDefault(config);   // read_only_deploys: true, read_only_blacklist: [db]
 * readOnly('web');   // true
 * readOnly('db');    // false
 * ```
 */
export function readOnlyDefault(
  config: Pick<PreparerConfig, 'readOnlyDeploys' | 'readOnlyWhitelist' | 'readOnlyBlacklist'>,
): (podId: string) => boolean {
  return (podId) =>
    config.readOnlyBlacklist.includes(podId)
      ? false
      : config.readOnlyWhitelist.includes(podId)
        ? true
        : config.readOnlyDeploys;
}

/**
 * The pino level for P2's (logrus) `log_level`: `warning` is pino's `warn`, `panic` its `fatal`;
 * the others have the same name.
 *
 * @example
 * ```ts
 * pino({ level: pinoLevel(config.logLevel) });   // log_level: warning → 'warn'
 * ```
 */
export function pinoLevel(logLevel: string): string {
  if (logLevel === 'warning') return 'warn';
  if (logLevel === 'panic') return 'fatal';
  return logLevel;
}

/** What {@link checkPreparerConfigFile} found: every key's fate, and whether the file is valid. */
export interface PreparerConfigCheck {
  file: string;
  /** Every key in file order; an unknown one with the known key it most likely meant. */
  keys: Array<PreparerKeyReport & { didYouMean?: string }>;
  /** Whether the preparer starts with this file ({@link parsePreparerConfig} accepts it). */
  valid: boolean;
  /** Why not, when not valid. */
  error?: unknown;
}

/**
 * What `p2-preparer --check-config FILE` reports: {@link describePreparerKeys} with a suggestion
 * for each unknown key, then whether {@link parsePreparerConfig} accepts the whole file. Never
 * throws: an unreadable file is an invalid one.
 *
 * @example checkPreparerConfigFile('/etc/p2/preparer.yaml').valid // false when a key is misspelt
 */
export function checkPreparerConfigFile(file: string): PreparerConfigCheck {
  let keys: PreparerConfigCheck['keys'] = [];
  try {
    const text = readFileSync(file, 'utf8');
    keys = describePreparerKeys(text, file).map((k) => {
      const guess = k.status === 'unknown' ? closestPreparerKey(k.key) : undefined;
      return { ...k, ...(guess ? { didYouMean: guess } : {}) };
    });
    parsePreparerConfig(text, file);
    return { file, keys, valid: true };
  } catch (error) {
    return { file, keys, valid: false, error };
  }
}
