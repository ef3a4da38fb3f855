import type { Logger } from 'pino';
import type { DelegationRecordSource } from './delegation.js';
import { DeployPolicyFile } from './deploy-policy.js';
import { AuthError, AuthErrorCodes } from './errors.js';
import { KeyringFile } from './keyring.js';
import {
  type DeployerPolicy,
  KeyringDeployerPolicy,
  type MultiSignatureRule,
  NoDeployerPolicy,
  UserDeployerPolicy,
} from './policy.js';

/** The preparer's `auth:` section, camelCased (see {@link parseAuthConfig} for the YAML form). */
export type AuthConfig =
  | { type: 'none' }
  | {
      type: 'keyring';
      /** Keyring file path (armored or binary). */
      keyring: string;
      /** Fingerprints allowed to deploy pod `p2-preparer` (only that pod, as in P2). */
      authorizedDeployers?: string[];
      multiSignature?: Record<string, MultiSignatureRule>;
      minRSABits?: number;
      allowSha1?: boolean;
      /** Delegated signing: keyring of the controllers' public keys (`delegation.keyring`). */
      delegationKeyring?: string;
    }
  | {
      type: 'user';
      keyring: string;
      /** Deploy policy YAML path. */
      deployPolicy: string;
      multiSignature?: Record<string, MultiSignatureRule>;
      minRSABits?: number;
      allowSha1?: boolean;
      /** Delegated signing: keyring of the controllers' public keys (`delegation.keyring`). */
      delegationKeyring?: string;
    };

/**
 * Validates the preparer's `auth:` YAML map (`type`, `keyring`, `authorized_deployers`,
 * `deploy_policy`, and our additions `multi_signature: {<pod> | '*': {required, signers}}`,
 * `min_rsa_bits`, `allow_sha1_signatures`, `delegation: {keyring}` (delegated signing: the
 * controllers' public keys, a different file from `keyring`). An empty or unknown `type` is an error, as P2's preparer refused to start.
 *
 * @throws AuthError `P2_AUTH_CONFIG_INVALID` naming the field.
 * @example
 * ```ts
 * parseAuthConfig({ type: 'keyring', keyring: '/etc/p2/pubring.gpg' });
 * // { type: 'keyring', keyring: '/etc/p2/pubring.gpg', authorizedDeployers: [] }
 * ```
 */
export function parseAuthConfig(raw: unknown): AuthConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError('auth', 'expected a map with `type`');
  }
  const map = raw as Record<string, unknown>;
  const type = map.type;
  if (type === 'none') return { type: 'none' };
  if (type !== 'keyring' && type !== 'user') {
    throw configError(
      'auth.type',
      `expected one of none, keyring, user; found ${type === undefined || type === '' ? 'nothing' : JSON.stringify(type)}`,
    );
  }
  const keyring = requiredString(map, 'keyring');
  const multiSignature = parseMultiSignature(map.multi_signature);
  const minRSABits = map.min_rsa_bits;
  if (minRSABits !== undefined && (typeof minRSABits !== 'number' || minRSABits < 512)) {
    throw configError('auth.min_rsa_bits', 'expected a number of bits ≥ 512');
  }
  const allowSha1 = map.allow_sha1_signatures;
  if (allowSha1 !== undefined && typeof allowSha1 !== 'boolean') {
    throw configError('auth.allow_sha1_signatures', 'expected true or false');
  }
  const delegationKeyring = parseDelegation(map.delegation, keyring);
  const extra = {
    ...(delegationKeyring ? { delegationKeyring } : {}),
    ...(multiSignature ? { multiSignature } : {}),
    ...(typeof minRSABits === 'number' ? { minRSABits } : {}),
    ...(allowSha1 ? { allowSha1 } : {}),
  };
  if (type === 'keyring') {
    const deployers = map.authorized_deployers ?? [];
    if (!Array.isArray(deployers) || deployers.some((d) => typeof d !== 'string')) {
      throw configError('auth.authorized_deployers', 'expected a list of key fingerprints');
    }
    return { type, keyring, authorizedDeployers: deployers as string[], ...extra };
  }
  return { type, keyring, deployPolicy: requiredString(map, 'deploy_policy'), ...extra };
}

/**
 * Builds the deployer policy for an {@link AuthConfig}; keyring and deploy policy files are
 * re-read when their mtime changes.
 *
 * @throws AuthError `P2_AUTH_KEYRING_INVALID`, `P2_AUTH_DEPLOY_POLICY_INVALID` when a file cannot be loaded.
 * @example
 * ```ts
 * const policy = await createDeployerPolicy(parseAuthConfig(preparerConfig.auth));
 * await policy.authorize(manifest);
 * ```
 */
export async function createDeployerPolicy(
  config: AuthConfig,
  options: { logger?: Logger; delegationRecords?: DelegationRecordSource | undefined } = {},
): Promise<DeployerPolicy> {
  if (config.type === 'none') return new NoDeployerPolicy();
  const log = options.logger ? { logger: options.logger } : {};
  const keyring = await KeyringFile.open(config.keyring, log);
  const delegation = config.delegationKeyring
    ? {
        keyring: await KeyringFile.open(config.delegationKeyring, log),
        records: options.delegationRecords,
      }
    : undefined;
  const common = {
    keyring,
    ...(delegation ? { delegation } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(config.multiSignature ? { multiSignature: config.multiSignature } : {}),
    ...(config.minRSABits === undefined ? {} : { minRSABits: config.minRSABits }),
    ...(config.allowSha1 ? { allowSha1: true } : {}),
  };
  if (config.type === 'keyring') {
    return new KeyringDeployerPolicy({
      ...common,
      authorizedDeployers: config.authorizedDeployers ?? [],
    });
  }
  const deployPolicy = await DeployPolicyFile.open(config.deployPolicy, log);
  return new UserDeployerPolicy({ ...common, deployPolicy });
}

function parseMultiSignature(value: unknown): Record<string, MultiSignatureRule> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw configError(
      'auth.multi_signature',
      `expected a map of pod id (or *) → {required, signers}, found ${shown(value)}`,
    );
  }
  const out: Record<string, MultiSignatureRule> = {};
  for (const [pod, rule] of Object.entries(value as Record<string, unknown>)) {
    const field = `auth.multi_signature.${pod}`;
    if (rule !== null && (typeof rule !== 'object' || Array.isArray(rule))) {
      throw configError(field, `expected a map {required, signers}, found ${shown(rule)}`);
    }
    const r = (rule ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(r).filter((k) => k !== 'required' && k !== 'signers');
    if (unknown.length > 0) {
      throw configError(`${field}.${unknown[0]}`, 'unknown key (expected required, signers)');
    }
    const required = r.required ?? 2;
    if (typeof required !== 'number' || !Number.isInteger(required) || required < 1) {
      throw configError(`${field}.required`, `expected an integer ≥ 1, found ${shown(required)}`);
    }
    const signers = r.signers;
    if (
      signers !== undefined &&
      (!Array.isArray(signers) || signers.some((s) => typeof s !== 'string'))
    ) {
      throw configError(
        `${field}.signers`,
        `expected a list of fingerprints, found ${shown(signers)}`,
      );
    }
    if (Array.isArray(signers) && signers.length < required) {
      throw configError(
        `${field}.signers`,
        `lists ${signers.length} fingerprint(s), fewer than required (${required}): no manifest could ever deploy`,
      );
    }
    out[pod] = { required, ...(signers ? { signers: signers as string[] } : {}) };
  }
  return out;
}

function parseDelegation(value: unknown, keyring: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw configError('auth.delegation', `expected a map {keyring}, found ${shown(value)}`);
  }
  const map = value as Record<string, unknown>;
  const unknown = Object.keys(map).filter((k) => k !== 'keyring');
  if (unknown.length > 0) {
    throw configError(`auth.delegation.${unknown[0]}`, 'unknown key (expected keyring)');
  }
  const path = map.keyring;
  if (typeof path !== 'string' || path === '') {
    throw configError('auth.delegation.keyring', "required: the controllers' public keyring");
  }
  if (path === keyring) {
    throw configError(
      'auth.delegation.keyring',
      "must not be the deployers' keyring: controller keys would then deploy anything on their own",
    );
  }
  return path;
}

function shown(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function requiredString(map: Record<string, unknown>, key: string): string {
  const value = map[key];
  if (typeof value !== 'string' || value === '') {
    throw configError(`auth.${key}`, `required for auth type ${String(map.type)}`);
  }
  return value;
}

function configError(field: string, problem: string): AuthError {
  return new AuthError(AuthErrorCodes.CONFIG_INVALID, `${field}: ${problem}`, {
    hint: 'see the auth section of the preparer configuration',
    details: { field },
  });
}
