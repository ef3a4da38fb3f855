/**
 * The preparer's configuration: P2's `preparer:` keys and defaults (spec 02 §1.1), plus p2's own
 * additions (`store`, `service_root`, `cgroup_parent`, …). Reading is lenient where P2 was (unknown
 * keys are ignored, as P2 did) and strict about values: a wrong type names the key, what was
 * expected and what was found.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { type AuthConfig, parseAuthConfig } from '@p2/auth';
import { parseGoDuration } from '@p2/go';
import { DEFAULT_LOCAL_ARTIFACT_DIR } from '@p2/hoist';
import { parse as parseYaml } from 'yaml';
import { PreparerError, PreparerErrorCode } from './errors.js';

export interface ArtifactAuthConfig {
  type: 'none' | 'build' | 'manifest' | 'either';
  keyring?: string;
}

/** The replay guard's settings (beyond P2); see the README's Configuration section. */
export interface ReplayGuardSettings {
  /** Highest `deploy_serial` run per pod. @default /var/lib/p2/preparer/replay-state.json */
  stateFile: string;
  /** Refuse signed manifests without `deploy_serial`. @default false */
  requireSerial: boolean;
}

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
  logExec?: string[];
  logBridgeBlacklist: string[];
  artifactRegistryUrl?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** The hooks pod manifest text, or undefined for `no_hooks` (or when absent). */
  hooksManifest?: string;
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
  /** Parent of every pod cgroup. @default p2/<node_name> */
  cgroupParent: string;
  /** Host name health checks connect to (P2: the node name). */
  healthCheckHost?: string;
  /** How often to check pod health. @default 1000 ms */
  healthCheckIntervalMs: number;
  /** Health check timeout (param healthcheck_timeout, seconds). @default 5000 ms */
  healthCheckTimeoutMs: number;
  /**
   * Ignore intent snapshots that lack pod `p2-preparer` (P2's guard against a wiped or corrupt
   * store). Turn off only on hosts whose preparer is not itself a pod. @default true
   */
  requirePreparerInIntent: boolean;
  /** Which accounts pods may run as (`run_as_min_uid`, `run_as_allow`; see @p2/pods RunAsPolicy). */
  runAs: { minUid: number; allow: Record<string, string[]> };
  /** Keys this version does not understand (reported once at start). */
  unknownKeys: string[];
  /** Settings that load but have no effect, each one sentence (logged once at start). */
  warnings: string[];
}

/** Keys P2 defined that p2 reads (others P2 accepted are listed in IGNORED_P2_KEYS). */
const KNOWN_KEYS = new Set([
  'node_name',
  'store',
  'consul_address',
  'consul_https',
  'consul_token_path',
  'hooks_directory',
  'pod_root',
  'require_file',
  'pod_whitelist_file',
  'status_port',
  'status_socket',
  'auth',
  'artifact_auth',
  'log_level',
  'max_launchable_disk_usage',
  'log_exec',
  'log_bridge_blacklist',
  'artifact_registry_url',
  'ca_file',
  'cert_file',
  'key_file',
  'hooks_manifest',
  'hooks_required',
  'read_only_deploys',
  'read_only_whitelist',
  'read_only_blacklist',
  'params',
  'service_root',
  'local_artifact_dirs',
  'cgroup_parent',
  'health_check_interval',
  'require_preparer_in_intent',
  'health_check_host',
  'run_as_min_uid',
  'run_as_allow',
  'replay_guard',
]);
/** P2 keys for features p2 does not implement (docker, socket logging, sqlite reporter, …): accepted, ignored. */
const IGNORED_P2_KEYS = new Set([
  'http2',
  'extra_log_destinations',
  'docker_host',
  'container_json_key_file',
  'unix_socket_path_env_var',
  'consul_host_header',
  'additional_consul_headers',
  'docker_image_directory_whitelist',
  'consul_config',
  'os_version_file',
  'process_result_reporter_config',
  'http_timeout',
  'idle_conn_timeout',
  'finish_exec',
]);
const KNOWN_PARAMS = new Set([
  'healthcheck_timeout',
  'include_pod_id_arg',
  'nested_cgroups',
  'audit_log_sqlite_ttl',
  'runc_path',
  'health_retry_time_sec',
  'health_session_ttl_sec',
  'health_writes_per_minute',
  'health_max_bucket_size',
  'health_resume_limit',
  'session_retry_seconds',
  'session_max_retry_seconds',
]);

type Raw = Record<string, unknown>;

function invalid(where: string, key: string, expected: string, found: unknown): PreparerError {
  const shown = found === undefined ? 'nothing' : JSON.stringify(found);
  return new PreparerError(
    PreparerErrorCode.CONFIG_INVALID,
    `${where}: preparer.${key}: expected ${expected}, found ${shown}`,
    { details: { key: `preparer.${key}`, expected, found } },
  );
}

class Reader {
  constructor(
    private readonly raw: Raw,
    private readonly where: string,
  ) {}

  string(key: string): string | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw invalid(this.where, key, 'a string', value);
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw invalid(this.where, key, 'true or false', value);
    return value;
  }

  int(key: string, fallback: number): number {
    const value = this.raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw invalid(this.where, key, 'a non-negative integer', value);
    }
    return value;
  }

  strings(key: string): string[] {
    const value = this.raw[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw invalid(this.where, key, 'a list of strings', value);
    }
    return value as string[];
  }

  map(key: string): Raw | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value))
      throw invalid(this.where, key, 'a mapping', value);
    return value as Raw;
  }
}

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$/i;
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
};

/** Parses P2's size strings (`10G`, `512M`, `1.5GB`, `100`), binary units. Returns undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text);
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] ?? '').toUpperCase()] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}

function storeUrlFrom(reader: Reader): string {
  const explicit = reader.string('store');
  if (explicit) return explicit;
  const address = reader.string('consul_address') ?? '127.0.0.1:8500';
  if (/^[a-z0-9+]+:\/\//i.test(address)) return address;
  return `${reader.bool('consul_https', false) ? 'consul+https' : 'consul'}://${address}`;
}

function deployerAuth(reader: Reader, where: string): AuthConfig {
  const auth = reader.map('auth');
  if (!auth) {
    throw new PreparerError(
      PreparerErrorCode.CONFIG_INVALID,
      `${where}: preparer.auth is required`,
      {
        hint: 'add `auth: {type: none}` to accept any manifest, or `auth: {type: keyring, keyring: /path/pubring.gpg}`',
      },
    );
  }
  try {
    return parseAuthConfig(auth);
  } catch (error) {
    throw new PreparerError(
      PreparerErrorCode.CONFIG_INVALID,
      `${where}: preparer.${(error as Error).message}`,
      {
        cause: error,
        ...((error as { hint?: string }).hint ? { hint: (error as { hint?: string }).hint } : {}),
      },
    );
  }
}

const REPLAY_GUARD_KEYS = ['enabled', 'state_file', 'require_serial'];
/** Under a root-only directory (created 0700 when missing). */
const DEFAULT_REPLAY_STATE_FILE = '/var/lib/p2/preparer/replay-state.json';

/**
 * `replay_guard: {enabled, state_file, require_serial}` — secure by default: on whenever manifests
 * are signed (`auth.type` other than `none`). Strict about its own keys: a misspelt key in a
 * security setting must not silently fall back to a default.
 */
function replayGuard(
  reader: Reader,
  where: string,
  auth: AuthConfig,
  warnings: string[],
): ReplayGuardSettings | undefined {
  const raw = reader.map('replay_guard');
  const section = raw ?? {};
  for (const key of Object.keys(section)) {
    if (!REPLAY_GUARD_KEYS.includes(key)) {
      throw invalid(where, `replay_guard.${key}`, `one of ${REPLAY_GUARD_KEYS.join(', ')}`, key);
    }
  }
  const enabled = section.enabled ?? true;
  if (typeof enabled !== 'boolean') {
    throw invalid(where, 'replay_guard.enabled', 'true or false', enabled);
  }
  const requireSerial = section.require_serial ?? false;
  if (typeof requireSerial !== 'boolean') {
    throw invalid(where, 'replay_guard.require_serial', 'true or false', requireSerial);
  }
  const stateFile = section.state_file ?? DEFAULT_REPLAY_STATE_FILE;
  if (typeof stateFile !== 'string' || !stateFile.startsWith('/') || stateFile.endsWith('/')) {
    throw invalid(where, 'replay_guard.state_file', 'an absolute file path', stateFile);
  }
  if (auth.type === 'none') {
    if (raw) {
      warnings.push(
        'preparer.replay_guard has no effect with auth type none (nothing is signed, so a deploy_serial proves nothing)',
      );
    }
    return undefined;
  }
  if (!enabled) return undefined;
  return { stateFile, requireSerial };
}

function localArtifactDirs(reader: Reader, raw: Raw, where: string): string[] {
  if (raw.local_artifact_dirs === undefined || raw.local_artifact_dirs === null)
    return [DEFAULT_LOCAL_ARTIFACT_DIR];
  const dirs = reader.strings('local_artifact_dirs');
  const relative = dirs.find((dir) => !dir.startsWith('/'));
  if (relative !== undefined)
    throw invalid(where, 'local_artifact_dirs', 'a list of absolute directories', relative);
  return dirs;
}

function artifactAuth(reader: Reader, where: string): ArtifactAuthConfig {
  const raw = reader.map('artifact_auth');
  if (!raw) return { type: 'none' };
  const a = new Reader(raw, where);
  const type = a.string('type') ?? 'none';
  if (type !== 'none' && type !== 'build' && type !== 'manifest' && type !== 'either') {
    throw invalid(where, 'artifact_auth.type', 'one of none, build, manifest, either', raw.type);
  }
  const keyring = a.string('keyring');
  if (type !== 'none' && !keyring) {
    throw invalid(
      where,
      'artifact_auth.keyring',
      `a keyring path (required by type ${type})`,
      raw.keyring,
    );
  }
  return keyring ? { type, keyring } : { type };
}

/** `run_as_allow: {<pod id or *>: [user, …]}` — the exceptions to the run_as policy. */
function runAsAllow(r: Reader, where: string): Record<string, string[]> {
  const map = r.map('run_as_allow') ?? {};
  const allow: Record<string, string[]> = {};
  for (const [pod, users] of Object.entries(map)) {
    if (!Array.isArray(users) || users.some((u) => typeof u !== 'string' || u === ''))
      throw invalid(where, `run_as_allow.${pod}`, 'a list of user names', users);
    allow[pod] = users as string[];
  }
  return allow;
}

/**
 * Parses preparer configuration text (the YAML document with a top-level `preparer:` key).
 * @throws PreparerError `P2_PREPARER_CONFIG_INVALID` naming the key, the expected and the found value.
 */
export function parsePreparerConfig(text: string, where = 'preparer config'): PreparerConfig {
  let document: unknown;
  try {
    document = parseYaml(text, { uniqueKeys: false });
  } catch (error) {
    throw new PreparerError(
      PreparerErrorCode.CONFIG_INVALID,
      `${where}: not valid YAML: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new PreparerError(
      PreparerErrorCode.CONFIG_INVALID,
      `${where}: expected a mapping with a \`preparer:\` key`,
    );
  }
  const top = (document as Raw).preparer;
  if (typeof top !== 'object' || top === null || Array.isArray(top)) {
    throw new PreparerError(
      PreparerErrorCode.CONFIG_INVALID,
      `${where}: expected a \`preparer:\` mapping, found ${JSON.stringify(top ?? null)}`,
      {
        hint: 'the preparer reads the `preparer:` key of its pod config (config: {preparer: {...}} in its manifest)',
      },
    );
  }
  const raw = top as Raw;
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

  const paramsRaw = r.map('params') ?? {};
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(paramsRaw)) {
    if (!KNOWN_PARAMS.has(name))
      throw invalid(where, `params.${name}`, `one of ${[...KNOWN_PARAMS].join(', ')}`, name);
    params[name] = String(value);
  }
  const healthTimeoutSeconds =
    params.healthcheck_timeout === undefined ? 5 : Number(params.healthcheck_timeout);
  if (!Number.isFinite(healthTimeoutSeconds) || healthTimeoutSeconds <= 0) {
    throw invalid(
      where,
      'params.healthcheck_timeout',
      'a positive number of seconds',
      params.healthcheck_timeout,
    );
  }
  const intervalText = r.string('health_check_interval') ?? '1s';
  const healthCheckIntervalMs = parseGoDuration(intervalText.trim());
  if (healthCheckIntervalMs === undefined || healthCheckIntervalMs <= 0) {
    throw invalid(where, 'health_check_interval', 'a duration such as 1s', intervalText);
  }

  const hooksManifestText = r.string('hooks_manifest');
  const auth = deployerAuth(r, where);
  const warnings: string[] = [];
  const rawAuth = raw.auth as Raw;
  if (auth.type === 'none' && rawAuth.multi_signature !== undefined) {
    warnings.push(
      'preparer.auth.multi_signature has no effect with auth type none (signatures are not checked)',
    );
  }
  const replay = replayGuard(r, where, auth, warnings);
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
    hooksRequired: r.strings('hooks_required'),
    readOnlyDeploys: r.bool('read_only_deploys', false),
    readOnlyWhitelist: r.strings('read_only_whitelist'),
    readOnlyBlacklist: r.strings('read_only_blacklist'),
    params,
    serviceRoot: r.string('service_root') ?? '/var/service',
    localArtifactDirs: localArtifactDirs(r, raw, where),
    cgroupParent: r.string('cgroup_parent') ?? `p2/${nodeName}`,
    healthCheckIntervalMs,
    healthCheckTimeoutMs: healthTimeoutSeconds * 1000,
    requirePreparerInIntent: r.bool('require_preparer_in_intent', true),
    runAs: { minUid: r.int('run_as_min_uid', 1000), allow: runAsAllow(r, where) },
    unknownKeys: Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k) && !IGNORED_P2_KEYS.has(k)),
    warnings,
  };
  const optional = {
    consulTokenPath: r.string('consul_token_path'),
    requireFile: r.string('require_file'),
    podWhitelistFile: r.string('pod_whitelist_file'),
    statusSocket: r.string('status_socket'),
    logExec: raw.log_exec === undefined ? undefined : r.strings('log_exec'),
    artifactRegistryUrl: r.string('artifact_registry_url'),
    healthCheckHost: r.string('health_check_host'),
    caFile: r.string('ca_file'),
    certFile: r.string('cert_file'),
    keyFile: r.string('key_file'),
    hooksManifest: hooksManifestText === 'no_hooks' ? undefined : hooksManifestText,
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

/**
 * Loads the configuration from `CONFIG_PATH` (as P2 did) or an explicit path.
 * @throws PreparerError `P2_PREPARER_CONFIG_MISSING` when no path is given or the file does not exist.
 */
export function loadPreparerConfig(
  path: string | undefined = process.env.CONFIG_PATH,
): PreparerConfig {
  if (!path) {
    throw new PreparerError(
      PreparerErrorCode.CONFIG_MISSING,
      'no configuration: CONFIG_PATH is not set',
      {
        hint: 'set CONFIG_PATH to a YAML file with a `preparer:` key, or pass --config FILE',
      },
    );
  }
  if (!existsSync(path)) {
    throw new PreparerError(
      PreparerErrorCode.CONFIG_MISSING,
      `configuration file ${path} does not exist`,
    );
  }
  return parsePreparerConfig(readFileSync(path, 'utf8'), path);
}
