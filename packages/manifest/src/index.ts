/**
 * `@p2/manifest` — P2 pod manifests: parse (plain and clearsigned), validate (JSON Schema + P2's
 * rules), P2's canonical serialization and manifest SHA, builder, and the config files a pod gets.
 *
 * @packageDocumentation
 */

export { parseGoDuration } from '@p2/go';
export { type ClearsignedParts, splitClearsigned } from './clearsign.js';
export { ManifestError, ManifestErrorCode, type ManifestErrorDetails } from './errors.js';
export {
  checkManifest,
  isUuidShaped,
  type LintIssue,
  type LintResult,
  lintManifest,
  type ManifestCheck,
} from './lint.js';
export {
  type ConfigFiles,
  DEFAULT_MAX_MANIFEST_BYTES,
  DEFAULT_RESTART_TIMEOUT_SECONDS,
  Manifest,
  ManifestBuilder,
  type ManifestLogger,
  type ParseManifestOptions,
  parseManifest,
  type StatusCheck,
} from './manifest.js';
export {
  type CgroupLimits,
  type ExecHook,
  type LaunchableInput,
  type LaunchableStanza,
  type LaunchableVersionStanza,
  MANIFEST_KEYS,
  parseByteCount,
  type StatusStanza,
} from './model.js';
export { launchableSchema, manifestSchema } from './schema.js';
