/**
 * `@p2/preparer-config`: the preparer's config file — P2's `preparer:` keys (spec 02 §1.1), p2's
 * additions, their defaults, and validation whose errors name the key, what was expected and what
 * was found. Also says what p2 does with every key ({@link PREPARER_KEYS},
 * {@link describePreparerKeys}). Used by `p2-preparer` and anything that simulates one.
 *
 * @packageDocumentation
 */
export { type ArtifactPolicy, artifactPolicy } from './artifacts.js';
export {
  checkPreparerConfigFile,
  describePreparerKeys,
  loadPreparerConfig,
  type PreparerConfig,
  type PreparerConfigCheck,
  parsePreparerConfig,
  pinoLevel,
  readOnlyDefault,
} from './config.js';
export { PreparerConfigError, PreparerConfigErrorCode } from './errors.js';
export {
  closestPreparerKey,
  isKnownPreparerKey,
  PREPARER_KEYS,
  PREPARER_PARAMS,
  type PreparerKeyInfo,
  type PreparerKeyReport,
} from './keys.js';
export { parseSize } from './reader.js';
export type {
  ArtifactAuthConfig,
  AutoRevertConfig,
  LogDestination,
  OpencontainerSettings,
  ReplayGuardSettings,
} from './sections.js';
export { type ClientTlsFiles, readClientTlsFiles } from './tls.js';
