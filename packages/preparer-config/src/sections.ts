/**
 * The sections of the `preparer:` mapping that are more than one value: the store URL, deployer
 * auth, the replay guard, artifact auth, local artifact directories and the run_as exceptions.
 */
import { existsSync } from 'node:fs';
import { type AuthConfig, parseAuthConfig } from '@p2/auth';
import { parseGoDuration } from '@p2/go';
import { DEFAULT_LOCAL_ARTIFACT_DIR } from '@p2/hoist';
import { BUNDLE_ALLOWANCES, type BundleAllowance } from '@p2/runc';
import { PreparerConfigError, PreparerConfigErrorCode } from './errors.js';
import { invalid, type Raw, Reader } from './reader.js';

/** Which artifacts must be signed, and by whom (`artifact_auth:`, spec 02 §7.3). */
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

/** `store`, else a URL built from P2's `consul_address` and `consul_https`. @internal */
export function storeUrlFrom(reader: Reader): string {
  const explicit = reader.string('store');
  if (explicit) return explicit;
  const address = reader.string('consul_address') ?? '127.0.0.1:8500';
  if (/^[a-z0-9+]+:\/\//i.test(address)) return address;
  return `${reader.bool('consul_https', false) ? 'consul+https' : 'consul'}://${address}`;
}

/** `auth` (required), validated by @p2/auth; its errors are given the file and the `preparer.` prefix. @internal */
export function deployerAuth(reader: Reader, where: string): AuthConfig {
  const auth = reader.map('auth');
  if (!auth) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_INVALID,
      `${where}: preparer.auth is required`,
      {
        hint: 'add `auth: {type: none}` to accept any manifest, or `auth: {type: keyring, keyring: /path/pubring.gpg}`',
      },
    );
  }
  try {
    return parseAuthConfig(auth);
  } catch (error) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_INVALID,
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
 * @internal
 */
export function replayGuard(
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

/** Host-local auto-revert (`auto_revert:`, beyond P2); see the README's Configuration section. */
export interface AutoRevertConfig {
  /** How long an updated pod with a status check has to pass it; 0 turns it off. @default 60_000 */
  afterMs: number;
  /** The SHAs reverted per pod. @default /var/lib/p2/preparer/reverted.json */
  stateFile: string;
}

const AUTO_REVERT_KEYS = ['after', 'state_file'];

/**
 * `auto_revert: {after, state_file}` — on by default (60s): an updated pod with a status port that
 * does not pass its check in time goes back to its previous version. `after: 0` turns it off.
 * @internal
 */
export function autoRevert(reader: Reader, where: string): AutoRevertConfig {
  const section = reader.map('auto_revert') ?? {};
  for (const key of Object.keys(section)) {
    if (!AUTO_REVERT_KEYS.includes(key))
      throw invalid(where, `auto_revert.${key}`, `one of ${AUTO_REVERT_KEYS.join(', ')}`, key);
  }
  const after = section.after ?? '60s';
  const afterMs = String(after).trim() === '0' ? 0 : parseGoDuration(String(after).trim());
  if (afterMs === undefined || afterMs < 0)
    throw invalid(where, 'auto_revert.after', 'a duration such as 60s, or 0 to turn it off', after);
  const stateFile = section.state_file ?? '/var/lib/p2/preparer/reverted.json';
  if (typeof stateFile !== 'string' || !stateFile.startsWith('/') || stateFile.endsWith('/'))
    throw invalid(where, 'auto_revert.state_file', 'an absolute file path', stateFile);
  return { afterMs, stateFile };
}

/**
 * `tracing: {otlp_endpoint}` — where each deploy's steps go as OpenTelemetry spans (OTLP/HTTP JSON,
 * `<endpoint>/v1/traces`); absent: none are exported (they are always in the pod's events).
 * @internal
 */
export function tracing(reader: Reader, where: string): { otlpEndpoint: string } | undefined {
  const section = reader.map('tracing');
  if (!section) return undefined;
  for (const key of Object.keys(section))
    if (key !== 'otlp_endpoint') throw invalid(where, `tracing.${key}`, 'otlp_endpoint', key);
  const endpoint = section.otlp_endpoint;
  if (typeof endpoint !== 'string' || !/^https?:\/\/[^/]/.test(endpoint))
    throw invalid(
      where,
      'tracing.otlp_endpoint',
      'an http(s) URL such as http://collector:4318',
      endpoint,
    );
  return { otlpEndpoint: endpoint };
}

/** `local_artifact_dirs`: absolute directories; by default the one p2-bootstrap writes. @internal */
export function localArtifactDirs(reader: Reader, raw: Raw, where: string): string[] {
  if (raw.local_artifact_dirs === undefined || raw.local_artifact_dirs === null)
    return [DEFAULT_LOCAL_ARTIFACT_DIR];
  const dirs = reader.strings('local_artifact_dirs');
  const relative = dirs.find((dir) => !dir.startsWith('/'));
  if (relative !== undefined)
    throw invalid(where, 'local_artifact_dirs', 'a list of absolute directories', relative);
  return dirs;
}

/**
 * `artifact_registry_url`: the http(s) URL `version:` launchables are resolved through (its path is
 * replaced by `/discover/<pod id>`). @internal
 */
export function artifactRegistryUrl(reader: Reader, where: string): string | undefined {
  const text = reader.string('artifact_registry_url');
  if (text === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw invalid(where, 'artifact_registry_url', 'an http(s):// URL', text);
  return text;
}

/** `os_version_file`: an absolute path (the release file the registry is told the OS from). @internal */
export function osVersionFile(reader: Reader, where: string): string | undefined {
  const path = reader.string('os_version_file');
  if (path !== undefined && !path.startsWith('/'))
    throw invalid(where, 'os_version_file', 'an absolute path', path);
  return path;
}

/** `artifact_auth: {type, keyring}`; a keyring is required unless the type is `none`. @internal */
export function artifactAuth(reader: Reader, where: string): ArtifactAuthConfig {
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

/** `run_as_allow: {<pod id or *>: [user, …]}` — the exceptions to the run_as policy. @internal */
export function runAsAllow(r: Reader, where: string): Record<string, string[]> {
  const map = r.map('run_as_allow') ?? {};
  const allow: Record<string, string[]> = {};
  for (const [pod, users] of Object.entries(map)) {
    if (!Array.isArray(users) || users.some((u) => typeof u !== 'string' || u === ''))
      throw invalid(where, `run_as_allow.${pod}`, 'a list of user names', users);
    allow[pod] = users as string[];
  }
  return allow;
}

/** One of `extra_log_destinations`: a unix socket the preparer's log entries also go to. */
export interface LogDestination {
  type: 'socket';
  /** Absolute path of the unix socket; each entry is sent on a connection of its own. */
  path: string;
}

/**
 * `extra_log_destinations: [{type: socket, path: /abs/path}, …]`. P2 logged and skipped a type it
 * did not know; p2 refuses it, so a destination that would receive nothing is found at once.
 * @internal
 */
export function logDestinations(raw: Raw, where: string): LogDestination[] {
  const list = raw.extra_log_destinations;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list))
    throw invalid(where, 'extra_log_destinations', 'a list of {type, path}', list);
  return list.map((entry: unknown, i) => {
    const key = `extra_log_destinations[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw invalid(where, key, 'a mapping {type, path}', entry);
    const fields = entry as Raw;
    const unknown = Object.keys(fields).find((k) => k !== 'type' && k !== 'path');
    if (unknown !== undefined)
      throw invalid(where, `${key}.${unknown}`, 'only type and path', unknown);
    if (fields.type !== 'socket')
      throw invalid(
        where,
        `${key}.type`,
        'socket (a unix socket: the only destination type P2 had)',
        fields.type,
      );
    const path = fields.path;
    if (typeof path !== 'string' || !path.startsWith('/') || path.endsWith('/'))
      throw invalid(where, `${key}.path`, 'the absolute path of a unix socket', path);
    return { type: 'socket', path };
  });
}

/** p2's `opencontainer:` section: what container pods may ask beyond the default policy. */
export interface OpencontainerSettings {
  /**
   * The runc binary: `params.runc_path`, else P2's `/usr/local/bin/runc` when it exists, else
   * `runc` on the PATH.
   */
  runcPath: string;
  /** `opencontainer.allow`: bundle fields allowed beyond the default policy, item by item. @default [] */
  allow: BundleAllowance[];
}

/**
 * `opencontainer: { allow: [hooks, capabilities, …] }` (each one of `@p2/runc`'s
 * `BUNDLE_ALLOWANCES`); anything else in the section is refused.
 * @internal
 */
export function opencontainer(
  raw: Raw,
  where: string,
  runcParam: string | undefined,
): OpencontainerSettings {
  const section = raw.opencontainer ?? {};
  if (typeof section !== 'object' || section === null || Array.isArray(section))
    throw invalid(where, 'opencontainer', 'a map with allow', section);
  for (const key of Object.keys(section))
    if (key !== 'allow')
      throw invalid(where, `opencontainer.${key}`, 'no such key (only allow)', key);
  const list = (section as Raw).allow ?? [];
  if (!Array.isArray(list)) throw invalid(where, 'opencontainer.allow', 'a list', list);
  const allow = list.map((item: unknown, i) => {
    if (!(BUNDLE_ALLOWANCES as readonly unknown[]).includes(item))
      throw invalid(
        where,
        `opencontainer.allow[${i}]`,
        `one of ${BUNDLE_ALLOWANCES.join(', ')}`,
        item,
      );
    return item as BundleAllowance;
  });
  const runcPath =
    runcParam ?? (existsSync('/usr/local/bin/runc') ? '/usr/local/bin/runc' : 'runc');
  return { runcPath, allow };
}
