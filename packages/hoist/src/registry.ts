/**
 * Artifact registries (spec 02 §2.6, spec 01 §1.11): a `version:` launchable names no location;
 * the registry is asked where its artifact is, with `GET /discover/<pod id>?<tags…>&artifact_name=
 * …&os=…&os_version=…&version=…`, and answers JSON `{location, manifest_location?,
 * manifest_signature_location?, signature_location?}`.
 */
import { describeError, redactUrl } from '@p2/errors';
import { HoistError, HoistErrorCodes } from './errors.js';
import { type FetchOptions, fetchBytes } from './fetch.js';
import { resolveLocation, type VerificationLocations, verificationLocations } from './location.js';
import type { OsRelease } from './os-release.js';

/** What a registry is asked about one `version:` launchable. */
export interface RegistryQuery {
  /**
   * The registry's base URL (`http(s)://`): the manifest's `artifact_registry`, else the host's
   * `artifact_registry_url`. Its path is replaced by `/discover/<pod id>`, as in P2.
   * Undefined or '' when neither is set.
   */
  registry: string | URL | undefined;
  podId: string;
  launchableId: string;
  /** `version.id`. */
  version: string;
  /** `version.artifact_name`; '' or undefined means the launchable id. */
  artifactName?: string;
  /** `version.tags`, sent as query parameters before p2's own. */
  tags?: Readonly<Record<string, string>>;
  /** The host's OS and version ({@link readOsRelease}). */
  os: OsRelease;
}

/** Where a registry says a launchable's artifact and its verification files are. */
export interface DiscoveredArtifact {
  /** The artifact (`location`): an http(s):// or file:// URL. */
  location: string;
  /**
   * Signature, build manifest and its signature: the registry's `signature_location`,
   * `manifest_location`, `manifest_signature_location` where it gave them, else derived from
   * `location` as for a `location:` launchable (`.sig`, `.manifest`, `.manifest.sig`).
   */
  verificationLocations: VerificationLocations;
  /** Which of {@link verificationLocations} the registry named itself. */
  fromRegistry: Array<keyof VerificationLocations>;
}

/** The query parameters p2 sets; a tag with one of these names is refused. */
const RESERVED_PARAMETERS = ['artifact_name', 'os', 'os_version', 'version'] as const;

/** Largest registry answer read. The JSON holds four URLs. @default 64 KiB */
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

const RESPONSE_FIELDS = {
  signature: 'signature_location',
  manifest: 'manifest_location',
  manifestSignature: 'manifest_signature_location',
} as const satisfies Record<keyof VerificationLocations, string>;

/**
 * The discovery URL for a `version:` launchable: `<registry origin>/discover/<pod id>?` with the
 * version's tags (sorted by name), then `artifact_name`, `os`, `os_version`, `version`.
 *
 * @throws HoistError `P2_HOIST_REGISTRY_MISSING` without a registry; `P2_HOIST_REGISTRY_QUERY_INVALID`
 *   for a registry that is not an http(s) URL or a tag named like one of p2's parameters
 * @example
 * ```ts
 * registryDiscoverUrl({
 *   registry: 'https://registry.local/ignored/path', podId: 'some-app', launchableId: 'some-app',
 *   version: 'asdf', tags: { directory: 'deployable' }, os: { os: 'CentOS', version: '7.4.1708' },
 * }).href;
 * // 'https://registry.local/discover/some-app?directory=deployable&artifact_name=some-app&os=CentOS&os_version=7.4.1708&version=asdf'
 * ```
 */
export function registryDiscoverUrl(query: RegistryQuery): URL {
  const base = registryBase(query);
  const url = new URL(`/discover/${encodeURIComponent(query.podId)}`, base);
  const tags = query.tags ?? {};
  for (const name of Object.keys(tags).sort()) {
    if ((RESERVED_PARAMETERS as readonly string[]).includes(name)) {
      throw new HoistError(
        HoistErrorCodes.REGISTRY_QUERY_INVALID,
        `launchable ${query.launchableId}: version tag ${JSON.stringify(name)} would replace the ${name} p2 sends the registry`,
        {
          hint: `rename the tag; ${RESERVED_PARAMETERS.join(', ')} are set by p2`,
          details: { launchable: query.launchableId, tag: name },
        },
      );
    }
    url.searchParams.append(name, tags[name] ?? '');
  }
  url.searchParams.append('artifact_name', query.artifactName || query.launchableId);
  url.searchParams.append('os', query.os.os);
  url.searchParams.append('os_version', query.os.version);
  url.searchParams.append('version', query.version);
  return url;
}

function registryBase(query: RegistryQuery): URL {
  const text = typeof query.registry === 'string' ? query.registry : query.registry?.href;
  if (text === undefined || text === '') {
    throw new HoistError(
      HoistErrorCodes.REGISTRY_MISSING,
      `launchable ${query.launchableId} names version ${JSON.stringify(query.version)} but no artifact registry is set to resolve it`,
      {
        hint: "set the preparer's artifact_registry_url (p2 launch: --artifact-registry-url), the manifest's artifact_registry, or give the launchable a location",
        details: { launchable: query.launchableId },
      },
    );
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new HoistError(
      HoistErrorCodes.REGISTRY_QUERY_INVALID,
      `artifact registry ${redactUrl(text)} is not a URL`,
      { cause, hint: 'write the registry as http(s)://host[:port]' },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HoistError(
      HoistErrorCodes.REGISTRY_QUERY_INVALID,
      `artifact registry ${redactUrl(url)} is not an http(s) URL`,
      { hint: 'write the registry as http(s)://host[:port]' },
    );
  }
  return url;
}

/**
 * At most `max` characters of untrusted text, safe to put in a message: control characters,
 * non-ASCII and quotes are escaped (JSON string syntax), the rest cut off with `…`.
 */
function excerpt(text: string, max = 80): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function invalidResponse(from: string, problem: string, cause?: unknown): HoistError {
  return new HoistError(
    HoistErrorCodes.REGISTRY_RESPONSE_INVALID,
    `artifact registry answer from ${from} refused: ${problem}`,
    {
      ...(cause === undefined ? {} : { cause }),
      hint: 'the registry must answer a JSON object with "location" (an http(s):// or file:// URL) and optionally "signature_location", "manifest_location", "manifest_signature_location"',
      details: { registry: from },
    },
  );
}

/** A location the registry gave: an absolute http(s):// or file:// URL, checked like any location. */
function checkedLocation(from: string, field: string, value: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'file') {
    throw invalidResponse(
      from,
      `"${field}" ${excerpt(redactUrl(value))} is not an http(s):// or file:// URL`,
    );
  }
  try {
    resolveLocation(value);
  } catch (cause) {
    throw invalidResponse(from, `"${field}": ${describeError(cause)}`, cause);
  }
  return value;
}

/**
 * Validates a registry's answer: a JSON object whose `location` is a non-empty http(s):// or
 * file:// URL, and whose optional `signature_location`, `manifest_location` and
 * `manifest_signature_location` are strings of the same kind ('' or `null` counts as absent, as
 * in P2). Other fields are ignored. Verification locations the registry does not give are derived
 * from `location`.
 *
 * Messages quote at most a short, escaped excerpt of the body.
 *
 * @param from - the registry URL, for messages (credentials are redacted)
 * @throws HoistError `P2_HOIST_REGISTRY_RESPONSE_INVALID` naming the field and what was wrong
 * @example
 * ```ts
 * parseRegistryResponse(Buffer.from('{"location":"https://a.local/app_1.tar.gz"}'), url);
 * // { location: 'https://a.local/app_1.tar.gz', fromRegistry: [],
 * //   verificationLocations: { signature: 'https://a.local/app_1.tar.gz.sig', … } }
 * ```
 */
export function parseRegistryResponse(body: Uint8Array, from: string): DiscoveredArtifact {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch (cause) {
    throw invalidResponse(from, 'the body is not UTF-8 text', cause);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw invalidResponse(
      from,
      `the body is not JSON (it starts ${excerpt(text.trimStart(), 40)})`,
    );
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw invalidResponse(
      from,
      `the body is JSON ${Array.isArray(data) ? 'array' : data === null ? 'null' : typeof data}, not an object`,
    );
  }
  const record = data as Record<string, unknown>;
  const field = (name: string, required: boolean): string | undefined => {
    const value = record[name];
    if (value === undefined || value === null || value === '') {
      if (required) throw invalidResponse(from, `"${name}" is missing`);
      return undefined;
    }
    if (typeof value !== 'string') {
      throw invalidResponse(
        from,
        `"${name}" is ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not a string`,
      );
    }
    return checkedLocation(from, name, value);
  };
  const location = field('location', true) as string;
  const derived = verificationLocations(location);
  const fromRegistry: Array<keyof VerificationLocations> = [];
  for (const [key, name] of Object.entries(RESPONSE_FIELDS) as Array<
    [keyof VerificationLocations, string]
  >) {
    const value = field(name, false);
    if (value === undefined) continue;
    derived[key] = value;
    fromRegistry.push(key);
  }
  return { location, verificationLocations: derived, fromRegistry };
}

/** Options of {@link discoverArtifact}: the artifact download's client settings. */
export interface DiscoverOptions extends FetchOptions {
  /** Refuse answers larger than this. @default 65536 */
  maxResponseBytes?: number;
}

/**
 * Asks the artifact registry where a `version:` launchable's artifact is
 * (`GET <registry>/discover/<pod id>?…`, see {@link registryDiscoverUrl}) with the same HTTP client
 * settings as artifact downloads — CA, client certificate, timeouts, retries of transient failures
 * — and validates the answer ({@link parseRegistryResponse}). Redirects are followed only to
 * http(s) and never from https to http.
 *
 * @throws HoistError `P2_HOIST_REGISTRY_MISSING`, `P2_HOIST_REGISTRY_QUERY_INVALID`,
 *   `P2_HOIST_REGISTRY_NOT_FOUND` (404/410), `P2_HOIST_REGISTRY_UNAVAILABLE` (unreachable, TLS,
 *   another status, after the retries), `P2_HOIST_REGISTRY_RESPONSE_INVALID` (the answer, a
 *   refused redirect, or a body over `maxResponseBytes`), `P2_HOIST_ABORTED`
 * @example
 * ```ts
 * const found = await discoverArtifact(
 *   { registry: 'https://registry.local', podId: 'web', launchableId: 'app', version: 'v7',
 *     os: await readOsRelease() },
 *   { ca },
 * );
 * await installArtifact({ ...found, launchableRoot, launchableId: 'app', version: 'v7' });
 * ```
 */
export async function discoverArtifact(
  query: RegistryQuery,
  options: DiscoverOptions = {},
): Promise<DiscoveredArtifact> {
  const url = registryDiscoverUrl(query);
  const display = redactUrl(url);
  const { maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES, ...fetchOptions } = options;
  let body: Buffer;
  try {
    body = await fetchBytes(
      { kind: 'http', url, display },
      { ...fetchOptions, maxDocumentBytes: maxResponseBytes, maxBytes: maxResponseBytes },
    );
  } catch (cause) {
    throw registryFetchError(cause, display, query);
  }
  return parseRegistryResponse(body, display);
}

function registryFetchError(cause: unknown, display: string, query: RegistryQuery): unknown {
  if (!(cause instanceof HoistError)) return cause;
  const details = { ...cause.details, registry: display, launchable: query.launchableId };
  switch (cause.code) {
    case HoistErrorCodes.ABORTED:
      return cause;
    case HoistErrorCodes.ARTIFACT_NOT_FOUND:
      return new HoistError(
        HoistErrorCodes.REGISTRY_NOT_FOUND,
        `artifact registry has no ${query.artifactName || query.launchableId} version ${JSON.stringify(query.version)} for pod ${query.podId} (${display}: HTTP ${String(cause.details.status)})`,
        {
          cause,
          details,
          hint: 'check version.id, version.artifact_name and version.tags, and that the build was published for this OS',
        },
      );
    case HoistErrorCodes.FETCH_TOO_LARGE:
      return invalidResponse(
        display,
        `the body is larger than ${String(cause.details.limit)} bytes`,
        cause,
      );
    case HoistErrorCodes.FETCH_REDIRECT_REFUSED:
      return invalidResponse(display, cause.message, cause);
    default:
      return new HoistError(
        HoistErrorCodes.REGISTRY_UNAVAILABLE,
        `cannot ask the artifact registry where ${query.launchableId} version ${JSON.stringify(query.version)} is: ${cause.message}`,
        {
          cause,
          details,
          hint: cause.hint ?? 'check that the artifact registry is reachable from this host',
        },
      );
  }
}
