import { basename, isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactUrl } from '@p2/errors';
import { HoistError, HoistErrorCodes } from './errors.js';

/**
 * Where an artifact (or its digest, signature or build manifest) lives, after resolution.
 * `display` is safe to log: credentials are redacted.
 */
export type ResolvedLocation =
  | { kind: 'http'; url: URL; display: string }
  | { kind: 'file'; path: string; display: string };

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * Resolves a launchable `location` the way P2 did: `http:`/`https:` URLs are fetched over HTTP,
 * `file:` URLs must carry an absolute path, and a string without a scheme is a local path
 * (relative paths are resolved against `baseDir`).
 *
 * @param location - the `location` (or `digest_location`, …) string from a manifest
 * @param baseDir - directory for relative plain paths. @default process.cwd()
 * @throws HoistError `P2_HOIST_LOCATION_INVALID` for an empty string, an unknown scheme, a
 *   malformed URL or a `file:` URL without an absolute local path
 * @example
 * ```ts
 * resolveLocation('https://bob:pw@artifacts.local/app_1.tar.gz?x=1');
 * // { kind: 'http', url: URL, display: 'https://***@artifacts.local/app_1.tar.gz?x=1' }
 * resolveLocation('/srv/app.tar.gz'); // { kind: 'file', path: '/srv/app.tar.gz', display: … }
 * ```
 */
export function resolveLocation(
  location: string,
  baseDir: string = process.cwd(),
): ResolvedLocation {
  if (location.trim() === '') {
    throw new HoistError(HoistErrorCodes.LOCATION_INVALID, 'artifact location is empty', {
      hint: 'set the launchable `location` to an http(s):// URL, a file:// URL or an absolute path',
    });
  }
  const scheme = SCHEME.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const path = isAbsolute(location) ? location : resolvePath(baseDir, location);
    return { kind: 'file', path, display: path };
  }
  let url: URL;
  try {
    url = new URL(location);
  } catch (cause) {
    throw new HoistError(
      HoistErrorCodes.LOCATION_INVALID,
      `artifact location ${redactUrl(location)} is not a valid URL`,
      { cause },
    );
  }
  if (scheme === 'http' || scheme === 'https') {
    return { kind: 'http', url, display: redactUrl(url) };
  }
  if (scheme === 'file') {
    if (url.host !== '' && url.host !== 'localhost') {
      throw new HoistError(
        HoistErrorCodes.LOCATION_INVALID,
        `file location ${redactUrl(location)} names host "${url.host}"; only local files can be read`,
        { hint: 'write file:///absolute/path (three slashes)' },
      );
    }
    const path = fileURLToPath(url);
    if (path === '' || path === '/' || !isAbsolute(path)) {
      throw new HoistError(
        HoistErrorCodes.LOCATION_INVALID,
        `file location ${redactUrl(location)} must name an absolute path to a file`,
      );
    }
    return { kind: 'file', path, display: path };
  }
  throw new HoistError(
    HoistErrorCodes.LOCATION_INVALID,
    `artifact location ${redactUrl(location)} has unknown scheme "${scheme}:"`,
    { hint: 'hoist fetches http:, https:, file: URLs and plain paths' },
  );
}

/** The verification files P2 looks for next to an artifact (spec 01 §1.11). */
export interface VerificationLocations {
  /** Detached signature over the artifact bytes: `<url>.sig`. */
  signature: string;
  /** Build manifest (`artifact_sha: <hex>`): `<url>.manifest`. */
  manifest: string;
  /** Detached signature over the build manifest: `<url>.manifest.sig`. */
  manifestSignature: string;
}

/**
 * Derives the signature and build-manifest locations of an artifact as P2 did: the suffix is
 * appended to the URL *path*, and the query string (and fragment) are kept.
 *
 * @throws HoistError `P2_HOIST_LOCATION_INVALID` when `location` cannot be resolved
 * @example
 * ```ts
 * verificationLocations('https://h/a/app_1.tar.gz?token=t').signature
 * // 'https://h/a/app_1.tar.gz.sig?token=t'
 * ```
 */
export function verificationLocations(location: string): VerificationLocations {
  return {
    signature: withPathSuffix(location, '.sig'),
    manifest: withPathSuffix(location, '.manifest'),
    manifestSignature: withPathSuffix(location, '.manifest.sig'),
  };
}

/**
 * Appends `suffix` to the path of a location, keeping any query and fragment.
 * @throws HoistError `P2_HOIST_LOCATION_INVALID` when `location` cannot be resolved
 * @example withPathSuffix('https://h/app.tar.gz?x=1', '.sig') // 'https://h/app.tar.gz.sig?x=1'
 */
export function withPathSuffix(location: string, suffix: string): string {
  const resolved = resolveLocation(location);
  if (resolved.kind === 'file' && SCHEME.exec(location) === null) return location + suffix;
  const url = new URL(location);
  url.pathname = `${url.pathname}${suffix}`;
  return url.href;
}

const VERSIONED_NAME = /^[a-z0-9-_]+_([a-f0-9]{40}(-[a-z0-9]+)?)\.tar\.gz$/;

/**
 * The version P2 derives from a location's file name when the launchable has no `version.id`:
 * `<name>_<40 lowercase hex>[-<suffix>].tar.gz`. Returns `undefined` when the name does not match
 * (P2 logged a warning and installed into `installs/<launchable-id>`).
 *
 * @example
 * ```ts
 * versionFromLocation('https://h/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz')
 * // '3c021aff048ca8117593f9c71e03b87cf72fd440'
 * versionFromLocation('https://h/hello_def456.tar.gz') // undefined
 * ```
 */
export function versionFromLocation(location: string): string | undefined {
  let path = location;
  const scheme = SCHEME.exec(location);
  if (scheme !== null) {
    try {
      path = new URL(location).pathname;
    } catch {
      return undefined;
    }
  }
  return VERSIONED_NAME.exec(basename(path))?.[1];
}

/** `.`, `..`, or with `/` or a control character (NUL, newline… would break env files and logs). */
function unsafeName(name: string): boolean {
  if (name === '.' || name === '..' || name.includes('/')) return true;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * The install directory name of a hoist launchable: `<launchable-id>_<version>`, or
 * `<launchable-id>` when the version is empty (spec 01 §1.3).
 *
 * @throws HoistError `P2_HOIST_NAME_INVALID` when the id or version is empty, `.`, `..`, or
 *   contains `/` (it would name a directory outside `installs/`) or a control character
 * @example installDirName('app', 'abc') // 'app_abc'
 */
export function installDirName(launchableId: string, version?: string): string {
  const name =
    version === undefined || version === '' ? launchableId : `${launchableId}_${version}`;
  if (launchableId === '' || unsafeName(launchableId) || unsafeName(name)) {
    throw new HoistError(
      HoistErrorCodes.NAME_INVALID,
      `launchable id ${JSON.stringify(launchableId)} with version ${JSON.stringify(version ?? '')} cannot name an install directory`,
      {
        hint: 'launchable ids and versions must not be empty, ".", ".." or contain "/" or control characters',
      },
    );
  }
  return name;
}
