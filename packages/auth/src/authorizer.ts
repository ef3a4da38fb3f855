import type { Logger } from 'pino';
import { type AuthConfig, createDeployerPolicy } from './config.js';
import type { DelegationRecordSource } from './delegation.js';
import type { Authorization, DeployerPolicy, ManifestToAuthorize } from './policy.js';
import { type DeployMetadata, ReplayGuard, type ReplayGuardInput } from './replay.js';
import { describeCause, silentLogger } from './util.js';

/** What {@link ManifestAuthorizer} needs from a manifest; @p2/manifest's `Manifest` fits as is. */
export type ManifestToCheck = ManifestToAuthorize & ReplayGuardInput;

/** A manifest that may be deployed: who signed it, and its replay metadata. */
export interface ManifestAuthorization extends Authorization {
  /** `deploy_serial` / `deploy_expires` read from the signed text (empty without a replay guard). */
  metadata: DeployMetadata;
}

/** Options of {@link ManifestAuthorizer}. */
export interface ManifestAuthorizerOptions {
  /** The deployer policy (signatures, deployers, M-of-N rules). */
  policy: DeployerPolicy;
  /** The replay guard; without one, serials and expiry are not checked. */
  replayGuard?: ReplayGuard;
  /** @default silent */
  logger?: Logger;
}

/**
 * Everything a host checks before it deploys a manifest, in one place: the deployer policy
 * (signature, signer, M-of-N) and then the replay guard (serial, expiry). Call
 * {@link authorize} before installing and {@link launched} once the manifest really runs, so the
 * guard's state only ever names versions that ran here: a manifest that is accepted but fails to
 * install does not move the serial forward, and the version still running stays acceptable.
 *
 * @example
 * ```ts
 * const authorizer = await createManifestAuthorizer(parseAuthConfig(raw.auth), {
 *   replayGuard: { stateFile: '/var/lib/p2/preparer/replay-state.json' },
 * });
 * await authorizer.authorize(manifest); // throws P2_AUTH_REPLAYED_SERIAL, P2_AUTH_NOT_ENOUGH_SIGNERS, …
 * // … install and launch …
 * await authorizer.launched(manifest);
 * ```
 */
export class ManifestAuthorizer {
  /** Manifests this instance authorized (and has not seen launched yet). */
  private readonly authorized = new WeakSet<object>();

  constructor(private readonly options: ManifestAuthorizerOptions) {}

  /** The deployer policy (for `checkDigest`). */
  get policy(): DeployerPolicy {
    return this.options.policy;
  }

  /** The replay guard, when one is on. */
  get replayGuard(): ReplayGuard | undefined {
    return this.options.replayGuard;
  }

  /**
   * Authorizes a manifest: the policy first (so metadata is only trusted from a verified signed
   * text), then the replay guard.
   * @throws AuthError any code of the policy, `P2_AUTH_REPLAYED_SERIAL`, `P2_AUTH_MANIFEST_EXPIRED`,
   *   `P2_AUTH_DEPLOY_METADATA_INVALID`.
   */
  async authorize(manifest: ManifestToCheck): Promise<ManifestAuthorization> {
    const authorization = await this.options.policy.authorize(manifest);
    const guard = this.options.replayGuard;
    if (!guard) return { ...authorization, metadata: {} };
    try {
      const metadata = await guard.check(manifest);
      this.authorized.add(manifest);
      return { ...authorization, metadata };
    } catch (error) {
      (this.options.logger ?? silentLogger).info(
        { podId: manifest.id, err: error },
        'manifest refused by the replay guard',
      );
      throw error;
    }
  }

  /**
   * Records that a manifest runs on this host (moves the replay guard's serial forward). For a
   * manifest this instance did not authorize — one already running when the host agent started,
   * whose record a crash may have lost — the manifest is authorized first and recorded only if
   * that succeeds; a refusal is logged and nothing is recorded (it runs already: the guard is
   * about what may start).
   * @throws AuthError `P2_AUTH_REPLAY_STATE_INVALID` when the state file cannot be written.
   */
  async launched(manifest: ManifestToCheck): Promise<void> {
    const guard = this.options.replayGuard;
    if (!guard) return;
    if (!this.authorized.has(manifest)) {
      if (guard.isRecorded(manifest)) return;
      try {
        await this.authorize(manifest);
      } catch (error) {
        (this.options.logger ?? silentLogger).warn(
          { podId: manifest.id, err: describeCause(error) },
          'running manifest not recorded by the replay guard: it is not authorized',
        );
        return;
      }
    }
    await guard.record(manifest);
    this.authorized.delete(manifest);
  }
}

/** Replay guard settings for {@link createManifestAuthorizer}. */
export interface ReplayGuardConfig {
  /** The state file (highest serial run per pod). */
  stateFile: string;
  /** Refuse manifests without `deploy_serial`. @default false */
  requireSerial?: boolean;
}

/**
 * Builds a {@link ManifestAuthorizer} from the preparer's `auth:` section and replay guard settings.
 * Under `auth: {type: none}` no replay guard is opened (nothing is signed, so a serial proves
 * nothing).
 *
 * @throws AuthError `P2_AUTH_KEYRING_INVALID`, `P2_AUTH_DEPLOY_POLICY_INVALID`,
 *   `P2_AUTH_REPLAY_STATE_INVALID` (state file untrusted, unreadable or damaged).
 * @example
 * ```ts
 * const authorizer = await createManifestAuthorizer(
 *   { type: 'keyring', keyring: '/etc/p2/pubring.gpg' },
 *   { replayGuard: { stateFile: '/var/lib/p2/preparer/replay-state.json', requireSerial: true } },
 * );
 * ```
 */
export async function createManifestAuthorizer(
  auth: AuthConfig,
  options: {
    replayGuard?: ReplayGuardConfig | undefined;
    logger?: Logger;
    /** Where delegated manifests' records are read (the store); see `DelegatedSigner`. */
    delegationRecords?: DelegationRecordSource | undefined;
  } = {},
): Promise<ManifestAuthorizer> {
  const logger = options.logger;
  const policy = await createDeployerPolicy(auth, {
    ...(logger ? { logger } : {}),
    delegationRecords: options.delegationRecords,
  });
  const replay = auth.type === 'none' ? undefined : options.replayGuard;
  const replayGuard = replay
    ? await ReplayGuard.open(replay.stateFile, {
        ...(replay.requireSerial ? { requireSerial: true } : {}),
        ...(logger ? { logger } : {}),
      })
    : undefined;
  return new ManifestAuthorizer({
    policy,
    ...(replayGuard ? { replayGuard } : {}),
    ...(logger ? { logger } : {}),
  });
}
