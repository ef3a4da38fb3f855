/**
 * `@p2/hoist`: Hoist artifacts — resolve a location (or ask an artifact registry), download with retries and progress, verify
 * the digest and signature, extract safely into a staging directory, move it atomically into
 * `installs/<version>`, switch `current`/`last`, prune, and discover entry points.
 *
 * @packageDocumentation
 */
export { type Bin2PodOptions, type Bin2PodResult, bin2pod } from './bin2pod.js';
export { parseDigestFile, type TreeDigestReport, verifyInstallDigest } from './digest.js';
export {
  DEFAULT_ENTRY_POINT,
  type DiscoverEntryPointsOptions,
  discoverEntryPoints,
  discoverScripts,
  type EntryPoint,
  type LaunchableScripts,
} from './entry-points.js';
export { HoistError, type HoistErrorCode, HoistErrorCodes } from './errors.js';
export {
  ByteBudget,
  DEFAULT_EXTRACT_LIMITS,
  type EntryNameProblem,
  type ExtractLimits,
  type ExtractOptions,
  type ExtractResult,
  entryNameParts,
  entryNameProblem,
  extractArchive,
  type Owner,
  streamTar,
} from './extract.js';
export {
  type DownloadProgress,
  type DownloadResult,
  downloadArtifact,
  type FetchOptions,
  type FetchTimeouts,
  fetchBytes,
} from './fetch.js';
export {
  type ArtifactSource,
  type ArtifactToVerify,
  type ArtifactVerifier,
  activateInstall,
  type InstallOptions,
  type InstallResult,
  installArtifact,
  type LinkName,
  type PruneOptions,
  type PruneResult,
  pruneInstalls,
  readLink,
  type SwitchLinkOptions,
  switchLink,
} from './install.js';
export { DEFAULT_LOCAL_ARTIFACT_DIR } from './local.js';
export {
  installDirName,
  type ResolvedLocation,
  resolveLocation,
  type VerificationLocations,
  verificationLocations,
  versionFromLocation,
  withPathSuffix,
} from './location.js';
export {
  DEFAULT_OS_VERSION_FILE,
  FALLBACK_OS_VERSION_FILE,
  type OsRelease,
  parseOsRelease,
  readOsRelease,
} from './os-release.js';
export {
  type ArtifactEntry,
  type ArtifactEntryType,
  type PackArtifactOptions,
  packArtifact,
} from './pack.js';
export {
  type DiscoveredArtifact,
  type DiscoverOptions,
  discoverArtifact,
  parseRegistryResponse,
  type RegistryQuery,
  registryDiscoverUrl,
} from './registry.js';
