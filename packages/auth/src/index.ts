/**
 * @p2/auth — who may deploy what, and which artifacts may run.
 *
 * Keyrings (armored or binary `pubring.gpg`, reloaded on change), verification of clearsigned pod
 * manifests and detached artifact signatures, P2's deployer policies (none, keyring, user) and
 * artifact policies (none, build, manifest, either), signing helpers for tools, and two additions
 * beyond P2: a replay guard (deploy serial + expiry) and M-of-N signing for chosen pods, combined
 * with the deployer policy by `ManifestAuthorizer`.
 *
 * @packageDocumentation
 */
export {
  type ArtifactPolicyType,
  type ArtifactSignatureReport,
  type ArtifactVerification,
  type ArtifactVerificationInput,
  type ArtifactVerifier,
  type ArtifactVerifierOptions,
  artifactVerificationUrls,
  checkArtifactSignatures,
  createArtifactVerifier,
  type DownloadedArtifact,
  type FetchCompanion,
  readArtifactSha,
  withCompanionFiles,
} from './artifact.js';
export {
  createManifestAuthorizer,
  type ManifestAuthorization,
  ManifestAuthorizer,
  type ManifestAuthorizerOptions,
  type ManifestToCheck,
  type ReplayGuardConfig,
} from './authorizer.js';
export { type AuthConfig, createDeployerPolicy, parseAuthConfig } from './config.js';
export {
  DELEGATION_NOTATION,
  DelegatedSigner,
  type DelegatingRecord,
  type DelegatingRecordKind,
  type DelegationOptions,
  type DelegationRecordSource,
  type DelegationStatement,
  delegationStatementText,
  type RecordRef,
  signDelegationStatement,
} from './delegation.js';
export { DeployPolicy, DeployPolicyFile, type DeployPolicySource } from './deploy-policy.js';
export { AuthError, type AuthErrorCode, AuthErrorCodes } from './errors.js';
export {
  Keyring,
  KeyringFile,
  type KeyringFileOptions,
  type KeyringOptions,
  type KeyringSource,
} from './keyring.js';
export {
  addKeysToKeyring,
  addKeysToKeyringFile,
  type KeyringMerge,
  type KeysToAdd,
} from './keyring-merge.js';
export {
  type Authorization,
  type DeployerPolicy,
  type DeployerPolicyType,
  KeyringDeployerPolicy,
  type KeyringPolicyOptions,
  type ManifestToAuthorize,
  type MultiSignatureRule,
  NoDeployerPolicy,
  PREPARER_POD_ID,
  type SignedPolicyOptions,
  UserDeployerPolicy,
  type UserPolicyOptions,
} from './policy.js';
export {
  type DeployMetadata,
  ReplayGuard,
  type ReplayGuardInput,
  type ReplayGuardOptions,
  readDeployMetadata,
  stampDeployMetadata,
} from './replay.js';
export {
  appendSignature,
  cosignManifest,
  loadSecretKeyFile,
  loadSecretKeys,
  type SecretKeyOptions,
  type SignOptions,
  signArtifact,
  signManifest,
} from './sign.js';
export {
  type ClearsignedInput,
  type SignedData,
  type SignerInfo,
  type VerifiedSignature,
  type VerifyOptions,
  verifyClearsigned,
  verifySignature,
} from './verify.js';
