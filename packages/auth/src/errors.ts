import { P2Error, type P2ErrorOptions } from '@p2/errors';

/**
 * Stable error codes of `@p2/auth`. Operators and programs match on these; messages are for people.
 *
 * Signature problems each have their own code, so a log or an `after_auth_fail` hook can tell a
 * tampered manifest from an unknown operator key or a broken file.
 */
export const AuthErrorCodes = {
  /** A policy other than `none` received a manifest without a signature. */
  UNSIGNED: 'P2_AUTH_UNSIGNED',
  /** The signature names a key that is not in the keyring (message names the 64-bit key id). */
  UNKNOWN_SIGNER: 'P2_AUTH_UNKNOWN_SIGNER',
  /**
   * The signed content differs from what was signed: the text was altered after signing, or the
   * signature belongs to another document. OpenPGP cannot tell these two apart (both show as a
   * digest mismatch), so they share this code.
   */
  SIGNATURE_MISMATCH: 'P2_AUTH_SIGNATURE_MISMATCH',
  /** The content matches, but the signature was not made by the key it names (wrong or forged key). */
  KEY_MISMATCH: 'P2_AUTH_KEY_MISMATCH',
  /** Armor or packet data ends early (copy/paste or transfer cut it off). */
  TRUNCATED_SIGNATURE: 'P2_AUTH_TRUNCATED_SIGNATURE',
  /** The signature bytes are not an OpenPGP signature at all. */
  MALFORMED_SIGNATURE: 'P2_AUTH_MALFORMED_SIGNATURE',
  /** The signer's key is weaker than allowed (RSA below `minRSABits`). */
  WEAK_KEY: 'P2_AUTH_WEAK_KEY',
  /** The signature uses a hash openpgp.js refuses (SHA-1 unless `allowSha1`, MD5, RIPEMD-160). */
  WEAK_HASH: 'P2_AUTH_WEAK_HASH',
  /** Any other reason OpenPGP refuses the signature (revoked key, signature expired, future date…). */
  SIGNATURE_INVALID: 'P2_AUTH_SIGNATURE_INVALID',
  /** Keyring policy: pod `p2-preparer` signed by a key not in `authorized_deployers`. */
  SIGNER_NOT_AUTHORIZED: 'P2_AUTH_SIGNER_NOT_AUTHORIZED',
  /** User policy: no e-mail of the signer belongs to a group allowed for the app user. */
  POLICY_DENIED: 'P2_AUTH_POLICY_DENIED',
  /** M-of-N: fewer distinct authorized signers than the pod requires. */
  NOT_ENOUGH_SIGNERS: 'P2_AUTH_NOT_ENOUGH_SIGNERS',
  /** A keyring file is missing, unreadable or holds no usable public key. */
  KEYRING_INVALID: 'P2_AUTH_KEYRING_INVALID',
  /** A deploy policy file is missing, unreadable or not `{groups, apps}`. */
  DEPLOY_POLICY_INVALID: 'P2_AUTH_DEPLOY_POLICY_INVALID',
  /** An auth configuration (policy type, required fields) is invalid. */
  CONFIG_INVALID: 'P2_AUTH_CONFIG_INVALID',
  /** Artifact policy needs a signature or build manifest that was not supplied. */
  ARTIFACT_SIGNATURE_MISSING: 'P2_AUTH_ARTIFACT_SIGNATURE_MISSING',
  /** A build manifest is not YAML with a 64-hex `artifact_sha`. */
  BUILD_MANIFEST_INVALID: 'P2_AUTH_BUILD_MANIFEST_INVALID',
  /** The build manifest's `artifact_sha` is not the artifact's SHA-256. */
  ARTIFACT_DIGEST_MISMATCH: 'P2_AUTH_ARTIFACT_DIGEST_MISMATCH',
  /** Artifact policy `either`: neither the build manifest nor the build signature verified. */
  ARTIFACT_UNVERIFIED: 'P2_AUTH_ARTIFACT_UNVERIFIED',
  /** The artifact file could not be read. */
  ARTIFACT_UNREADABLE: 'P2_AUTH_ARTIFACT_UNREADABLE',
  /** A secret key cannot be loaded (no secret material, wrong passphrase, unreadable file). */
  SECRET_KEY_INVALID: 'P2_AUTH_SECRET_KEY_INVALID',
  /** OpenPGP failed while producing a signature. */
  SIGNING_FAILED: 'P2_AUTH_SIGNING_FAILED',
  /** Replay guard: the manifest's deploy serial is older than the last one run for this pod. */
  REPLAYED_SERIAL: 'P2_AUTH_REPLAYED_SERIAL',
  /** Replay guard: the manifest's `deploy_expires` has passed. */
  MANIFEST_EXPIRED: 'P2_AUTH_MANIFEST_EXPIRED',
  /** Replay guard: `deploy_serial` / `deploy_expires` present but malformed. */
  DEPLOY_METADATA_INVALID: 'P2_AUTH_DEPLOY_METADATA_INVALID',
  /** Replay guard: the state file cannot be read or written. */
  REPLAY_STATE_INVALID: 'P2_AUTH_REPLAY_STATE_INVALID',
  /**
   * Delegated signing: a manifest signed by a controller key names no record (no or a malformed
   * `p2-record@p2` notation), or this host has no way to read records.
   */
  DELEGATION_INVALID: 'P2_AUTH_DELEGATION_INVALID',
  /** Delegated signing: the record the controller named does not exist (or cannot be read). */
  DELEGATION_RECORD_MISSING: 'P2_AUTH_DELEGATION_RECORD_MISSING',
  /** Delegated signing: the record the controller named carries no deployer signature. */
  DELEGATION_RECORD_UNSIGNED: 'P2_AUTH_DELEGATION_RECORD_UNSIGNED',
  /** Delegated signing: the record's signed statement is for another pod or another manifest. */
  DELEGATION_MISMATCH: 'P2_AUTH_DELEGATION_MISMATCH',
  /** Delegated signing: this node does not match the record's node selector. */
  DELEGATION_NODE_NOT_SELECTED: 'P2_AUTH_DELEGATION_NODE_NOT_SELECTED',
} as const;

/** One of {@link AuthErrorCodes}. */
export type AuthErrorCode = (typeof AuthErrorCodes)[keyof typeof AuthErrorCodes];

/**
 * The one error class of `@p2/auth`. `details.keyId` (16 upper-case hex digits) and
 * `details.fingerprint` name the signer whenever one is known.
 */
export class AuthError extends P2Error<AuthErrorCode> {
  constructor(code: AuthErrorCode, message: string, options: P2ErrorOptions = {}) {
    super(code, message, options);
  }
}
