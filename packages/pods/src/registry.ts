/**
 * `version:` launchables (spec 02 §2.4, §2.6): their artifact is found by asking an artifact
 * registry — the manifest's `artifact_registry`, else the host's `artifact_registry_url` — with
 * the host's OS and version from its release file (`os_version_file`).
 */
import {
  type DiscoveredArtifact,
  discoverArtifact,
  type FetchOptions,
  type OsRelease,
  type RegistryQuery,
  readOsRelease,
} from '@p2/hoist';
import type { Manifest } from '@p2/manifest';

/** Where `version:` launchables are resolved: the host's registry, OS file and HTTP client. */
export interface RegistrySettings {
  /** The host's registry (P2's `artifact_registry_url`); a manifest's `artifact_registry` wins. */
  artifactRegistry?: string;
  /** P2's `os_version_file`. @default /etc/redhat-release, else /etc/os-release */
  osVersionFile?: string;
  /** The artifact download's client settings (CA, client certificate, retries, timeouts). */
  fetch?: Omit<FetchOptions, 'onProgress' | 'logger'>;
}

/** Whether a launchable is resolved through a registry (a `version:` without a `location`). */
export function isRegistryLaunchable(manifest: Manifest, launchableId: string): boolean {
  const stanza = manifest.launchables[launchableId];
  return stanza !== undefined && stanza.location === '' && stanza.version.id !== '';
}

/**
 * The registry a manifest's `version:` launchables are resolved through: its own
 * `artifact_registry` when that is a URL (P2 logged and ignored one that is not), else the host's.
 */
export function registryFor(
  manifest: Manifest,
  hostRegistry: string | undefined,
): string | undefined {
  return manifest.artifactRegistryUrl()?.href ?? (hostRegistry || undefined);
}

/** The registry query for one launchable (see `@p2/hoist`'s `registryDiscoverUrl`). */
function registryQuery(
  manifest: Manifest,
  launchableId: string,
  hostRegistry: string | undefined,
  os: OsRelease,
): RegistryQuery {
  const version = manifest.launchables[launchableId]?.version;
  return {
    registry: registryFor(manifest, hostRegistry),
    podId: manifest.id,
    launchableId,
    version: version?.id ?? '',
    artifactName: version?.artifactName ?? '',
    tags: version?.tags ?? {},
    os,
  };
}

/**
 * Asks the artifact registry where a `version:` launchable's artifact is: the host's OS from
 * `osVersionFile` (read as root may trust it), then `GET <registry>/discover/<pod id>?…` with the
 * download client's settings. `os` skips reading the release file (one read per install).
 *
 * @throws HoistError `P2_HOIST_OS_RELEASE_INVALID`, `P2_HOIST_REGISTRY_*` (see `@p2/hoist`'s
 *   `discoverArtifact`)
 * @example
 * ```ts
 * const found = await discoverLaunchable(manifest, 'app', {
 *   artifactRegistry: 'https://registry.local',
 *   osVersionFile: '/etc/os-release',
 * });
 * found.location; // 'https://artifacts.local/app_v7.tar.gz'
 * ```
 */
export async function discoverLaunchable(
  manifest: Manifest,
  launchableId: string,
  settings: RegistrySettings,
  os?: OsRelease,
): Promise<DiscoveredArtifact> {
  const host = os ?? (await readOsRelease(settings.osVersionFile));
  return discoverArtifact(
    registryQuery(manifest, launchableId, settings.artifactRegistry, host),
    settings.fetch ?? {},
  );
}
