import type { Logger } from 'pino';
import {
  DELEGATION_NOTATION,
  type DelegationOptions,
  parseRecordRef,
  type RecordRef,
  statementBytes,
} from './delegation.js';
import type { DeployPolicySource } from './deploy-policy.js';
import { AuthError, AuthErrorCodes } from './errors.js';
import type { Keyring, KeyringSource } from './keyring.js';
import { describeCause, silentLogger } from './util.js';
import {
  type ClearsignedInput,
  readSignaturePackets,
  type SignerInfo,
  type VerifyOptions,
  verifySignature,
} from './verify.js';

/** The pod whose deployer list and app user P2 treated specially. */
export const PREPARER_POD_ID = 'p2-preparer';

/** What a deployer policy needs from a manifest; @p2/manifest's `Manifest` fits as is. */
export interface ManifestToAuthorize {
  /** Pod id. */
  readonly id: string;
  /** Effective run-as user (run_as, else the pod id). */
  readonly runAs: string;
  /** The clearsigned envelope, `undefined` for an unsigned manifest. */
  readonly clearsigned?: ClearsignedInput | undefined;
  /** The original bytes; used to tell a damaged signature envelope from a manifest never signed. */
  readonly raw?: Uint8Array;
  /** P2's manifest SHA; needed to accept a delegated (controller-signed) manifest. */
  sha?(): string;
}

/** The policy types P2's preparer accepted in `auth.type`. */
export type DeployerPolicyType = 'none' | 'keyring' | 'user';

/** A successful authorization. */
export interface Authorization {
  /** Which policy decided. */
  policy: DeployerPolicyType;
  /** The signer P2 would report (first valid, authorized signer); absent under `none`. */
  signer?: SignerInfo;
  /** Every distinct valid signer (several when co-signed). */
  signers: SignerInfo[];
  /**
   * Set when the manifest was signed by a controller key on a deployer's behalf: the controller
   * that wrote it and the signed record that asked for it (`signer`/`signers` are the record's).
   */
  delegation?: { controller: SignerInfo; record: RecordRef };
}

/**
 * Decides whether a manifest may be deployed, on the host, from its signature alone.
 * Create one with {@link createDeployerPolicy} or the classes below.
 */
export interface DeployerPolicy {
  readonly type: DeployerPolicyType;
  /**
   * Authorizes a manifest or throws.
   * @throws AuthError `P2_AUTH_UNSIGNED`, `P2_AUTH_SIGNER_NOT_AUTHORIZED`, `P2_AUTH_POLICY_DENIED`,
   *   `P2_AUTH_NOT_ENOUGH_SIGNERS`, or any signature code of `verifySignature`.
   */
  authorize(manifest: ManifestToAuthorize): Promise<Authorization>;
  /**
   * P2's `CheckDigest`: a launchable's digest file, when it has a signature, must be signed by a key
   * in the keyring (no deployer or user check). No signature ⇒ accepted, as in P2.
   * @throws AuthError signature codes of `verifySignature`.
   */
  checkDigest(
    digest: Uint8Array,
    signature: Uint8Array | undefined,
    subject?: string,
  ): Promise<void>;
}

/**
 * M-of-N signing for chosen pods (beyond P2). The manifest's clearsigned signature block carries
 * several signature packets (`gpg --clearsign -u A -u B`, `signManifest(text, [a, b])`, or
 * `cosignManifest(signed, b)`); at least `required` distinct authorized keys must have signed.
 */
export interface MultiSignatureRule {
  /** Distinct authorized signers required. @default 2 */
  required?: number;
  /** Fingerprints allowed to count; default: anyone the policy otherwise authorizes. */
  signers?: readonly string[];
}

/** Options shared by the keyring and user policies. */
export interface SignedPolicyOptions extends VerifyOptions {
  /** Keyring (or reloading keyring file) holding the operators' public keys. */
  keyring: KeyringSource;
  /**
   * Pod id → M-of-N rule, for pods that need several signers; the key `*` applies to every pod
   * without a rule of its own.
   */
  multiSignature?: Readonly<Record<string, MultiSignatureRule>>;
  /** Receives one record per decision (debug when authorized, info when refused). @default silent */
  logger?: Logger;
  /**
   * Delegated signing: manifests signed by a key in `delegation.keyring` (the controllers') are
   * accepted only through a deployer-signed record (see `DelegatedSigner`). Without it, such
   * manifests are judged like any other signature (and refused unless that key is a deployer's).
   */
  delegation?: DelegationOptions;
}

/**
 * `type: none`: everything is authorized and signatures are ignored (P2's default for tests).
 *
 * @example
 * ```ts
 * await new NoDeployerPolicy().authorize(manifest); // { policy: 'none', signers: [] }
 * ```
 */
export class NoDeployerPolicy implements DeployerPolicy {
  readonly type = 'none' as const;
  async authorize(_manifest: ManifestToAuthorize): Promise<Authorization> {
    return { policy: 'none', signers: [] };
  }
  async checkDigest(
    _digest: Uint8Array,
    _signature: Uint8Array | undefined,
    _subject?: string,
  ): Promise<void> {}
}

abstract class SignedDeployerPolicy implements DeployerPolicy {
  abstract readonly type: 'keyring' | 'user';
  protected constructor(protected readonly options: SignedPolicyOptions) {}

  /** Returns a reason string when `signer` may not deploy the manifest, `undefined` when it may. */
  protected abstract refusal(
    signer: SignerInfo,
    manifest: ManifestToAuthorize,
  ): Promise<AuthError | undefined>;

  async authorize(manifest: ManifestToAuthorize): Promise<Authorization> {
    const logger = this.options.logger ?? silentLogger;
    try {
      const result = await this.decide(manifest);
      logger.debug(
        {
          podId: manifest.id,
          policy: this.type,
          signers: result.signers.map((s) => s.fingerprint),
        },
        'manifest authorized',
      );
      return result;
    } catch (error) {
      logger.info({ podId: manifest.id, policy: this.type, err: error }, 'manifest refused');
      throw error;
    }
  }

  private async decide(manifest: ManifestToAuthorize): Promise<Authorization> {
    const keyring = await this.options.keyring.current();
    if (!manifest.clearsigned) {
      if (manifest.raw && looksClearsigned(manifest.raw)) {
        throw new AuthError(
          AuthErrorCodes.TRUNCATED_SIGNATURE,
          `manifest for pod ${manifest.id} starts a clear-signed envelope that cannot be read (signature block truncated or damaged)`,
          {
            hint: 'write the whole signed manifest again (from -----BEGIN PGP SIGNED MESSAGE----- to -----END PGP SIGNATURE-----)',
            details: { podId: manifest.id },
          },
        );
      }
      throw new AuthError(
        AuthErrorCodes.UNSIGNED,
        `received unsigned manifest for pod ${manifest.id} (expected a signature by a key in ${keyring.source})`,
        {
          hint: 'clear-sign the manifest (`gpg --clearsign` or signManifest) with a key in the keyring',
          details: { podId: manifest.id, keyring: keyring.source },
        },
      );
    }
    const delegated = await this.delegated(manifest, manifest.clearsigned);
    if (delegated) return delegated;
    const { signers } = await verifySignature(
      manifest.clearsigned.signedBytes,
      manifest.clearsigned.signature,
      keyring,
      { ...this.options, subject: `manifest ${manifest.id}` },
    );
    return this.judge(signers, manifest);
  }

  /** The policy's verdict on verified signers: per-signer refusals, then M-of-N. */
  private async judge(
    signers: SignerInfo[],
    manifest: ManifestToAuthorize,
  ): Promise<Authorization> {
    const authorized: SignerInfo[] = [];
    let firstRefusal: AuthError | undefined;
    for (const signer of signers) {
      const refusal = await this.refusal(signer, manifest);
      if (refusal) firstRefusal ??= refusal;
      else authorized.push(signer);
    }
    const rule = multiSignatureRule(this.options.multiSignature, manifest.id);
    if (rule) return this.checkMultiSignature(rule, authorized, signers, manifest);
    const signer = authorized[0];
    if (!signer) throw firstRefusal!;
    return { policy: this.type, signer, signers };
  }

  /**
   * The delegated path: taken when a controller key made one of the manifest's signatures. The
   * controller's signature must verify and name a record; the record must exist, be signed by a
   * deployer (not a controller) the policy authorizes for this pod, for this pod and manifest SHA,
   * and select this node.
   */
  private async delegated(
    manifest: ManifestToAuthorize,
    clearsigned: ClearsignedInput,
  ): Promise<Authorization | undefined> {
    const delegation = this.options.delegation;
    if (!delegation) return undefined;
    const controllers = await delegation.keyring.current();
    const subject = `manifest ${manifest.id}`;
    const packets = await readSignaturePackets(clearsigned.signature, subject);
    const byController = packets.packets.some(
      (p) => p.issuerKeyID && controllers.findByKeyId(p.issuerKeyID),
    );
    if (!byController) return undefined;
    const { signer: controller } = await verifySignature(
      clearsigned.signedBytes,
      clearsigned.signature,
      controllers,
      { ...this.options, subject: `${subject} (controller signature)` },
    );
    const ref = parseRecordRef(controller.notations?.[DELEGATION_NOTATION], manifest.id);
    const where = `${ref.kind}/${ref.id}`;
    const details = { podId: manifest.id, record: where, controller: controller.fingerprint };
    if (!delegation.records) {
      throw new AuthError(
        AuthErrorCodes.DELEGATION_INVALID,
        `manifest for pod ${manifest.id} is signed by controller key ${controller.keyId} on behalf of ${where}, but this host reads no records`,
        { hint: 'give the policy a record source (the preparer passes its store)', details },
      );
    }
    let record: Awaited<ReturnType<NonNullable<DelegationOptions['records']>['get']>>;
    try {
      record = await delegation.records.get(ref);
    } catch (cause) {
      throw new AuthError(
        AuthErrorCodes.DELEGATION_RECORD_MISSING,
        `cannot read ${where}, which controller key ${controller.keyId} names for pod ${manifest.id}: ${describeCause(cause)}`,
        { cause, hint: 'the deploy is retried; check the store', details },
      );
    }
    if (!record) {
      throw new AuthError(
        AuthErrorCodes.DELEGATION_RECORD_MISSING,
        `controller key ${controller.keyId} signed pod ${manifest.id} for ${where}, which does not exist`,
        {
          hint: 'only manifests a signed record asks for are accepted from the controllers',
          details,
        },
      );
    }
    if (!record.signature) {
      throw new AuthError(
        AuthErrorCodes.DELEGATION_RECORD_UNSIGNED,
        `${where} (pod ${manifest.id}) carries no deployer signature`,
        {
          hint: 'sign the record as a deployer: `p2 rc sign ID --key F` / `p2 ds sign ID --key F` (or create it with --sign-key)',
          details,
        },
      );
    }
    const keyring = await this.options.keyring.current();
    const { signers } = await verifySignature(
      statementBytes(record.statement),
      record.signature,
      keyring,
      { ...this.options, subject: where },
    ).catch((error: unknown) => {
      throw onRecord(error, where, details);
    });
    // A controller key is never a deployer, even when someone also put it in the deployer keyring.
    const deployers = signers.filter((s) => !controllers.findByKeyId(s.keyId));
    if (deployers.length === 0) {
      throw new AuthError(
        AuthErrorCodes.DELEGATION_RECORD_UNSIGNED,
        `${where} (pod ${manifest.id}) is signed only by a controller key`,
        { hint: 'a deployer must sign the record; controller keys cannot', details },
      );
    }
    const s = record.statement;
    const sha = manifest.sha?.();
    if (
      s.kind !== ref.kind ||
      s.id !== ref.id ||
      s.podId !== manifest.id ||
      s.manifestSha !== sha
    ) {
      throw new AuthError(
        AuthErrorCodes.DELEGATION_MISMATCH,
        `controller key ${controller.keyId} signed pod ${manifest.id} (sha ${sha ?? 'unknown'}), but ${where} was signed for pod ${s.podId} (sha ${s.manifestSha})`,
        { hint: 'the controllers may only write the manifest a deployer signed', details },
      );
    }
    if (!record.nodeSelected) {
      throw new AuthError(
        AuthErrorCodes.DELEGATION_NODE_NOT_SELECTED,
        `${where} does not select this node (node selector "${s.nodeSelector}"), yet pod ${manifest.id} was written here`,
        {
          hint: "the node's labels no longer match the signed selector, or the controllers misplaced the pod",
          details,
        },
      );
    }
    const authorization = await this.judge(deployers, manifest).catch((error: unknown) => {
      throw onRecord(error, where, details);
    });
    return { ...authorization, delegation: { controller, record: ref } };
  }

  private checkMultiSignature(
    rule: MultiSignatureRule,
    authorized: SignerInfo[],
    signers: SignerInfo[],
    manifest: ManifestToAuthorize,
  ): Authorization {
    const required = rule.required ?? 2;
    const allowed = rule.signers?.map((f) => f.replace(/\s+/g, '').toUpperCase());
    const counted = authorized.filter((s) => !allowed || allowed.includes(s.fingerprint));
    if (counted.length < required) {
      const who = signers.map((s) => s.keyId).join(', ') || 'nobody';
      throw new AuthError(
        AuthErrorCodes.NOT_ENOUGH_SIGNERS,
        `pod ${manifest.id} needs ${required} distinct authorized signers, found ${counted.length} (valid signatures by: ${who})`,
        {
          hint: 'have another authorized operator co-sign the manifest (cosignManifest or `gpg --clearsign -u A -u B`)',
          details: {
            podId: manifest.id,
            required,
            counted: counted.map((s) => s.fingerprint),
            signers: signers.map((s) => s.fingerprint),
          },
        },
      );
    }
    return { policy: this.type, signer: counted[0]!, signers };
  }

  async checkDigest(
    digest: Uint8Array,
    signature: Uint8Array | undefined,
    subject = 'digest file',
  ): Promise<void> {
    if (signature === undefined) return;
    const keyring: Keyring = await this.options.keyring.current();
    await verifySignature(digest, signature, keyring, { ...this.options, subject });
  }
}

/** Options of {@link KeyringDeployerPolicy}. */
export interface KeyringPolicyOptions extends SignedPolicyOptions {
  /**
   * Upper-case fingerprints allowed to deploy pod `p2-preparer`. As in P2 this list restricts
   * **only** the `p2-preparer` pod; every other pod may be deployed by any key in the keyring.
   * Empty or absent: no restriction.
   */
  authorizedDeployers?: readonly string[];
}

/**
 * `type: keyring`: the manifest must be signed by any key in the keyring; `authorizedDeployers`
 * restricts only pod `p2-preparer`.
 *
 * @example
 * ```ts
 * const policy = new KeyringDeployerPolicy({ keyring: await KeyringFile.open('/etc/p2/pubring.gpg') });
 * const { signer } = await policy.authorize(parseManifest(signedText));
 * ```
 */
export class KeyringDeployerPolicy extends SignedDeployerPolicy {
  readonly type = 'keyring' as const;
  private readonly deployers: string[];

  constructor(options: KeyringPolicyOptions) {
    super(options);
    this.deployers = (options.authorizedDeployers ?? []).map((f) =>
      f.replace(/\s+/g, '').toUpperCase(),
    );
  }

  protected async refusal(
    signer: SignerInfo,
    manifest: ManifestToAuthorize,
  ): Promise<AuthError | undefined> {
    if (manifest.id !== PREPARER_POD_ID || this.deployers.length === 0) return undefined;
    if (this.deployers.includes(signer.fingerprint)) return undefined;
    return new AuthError(
      AuthErrorCodes.SIGNER_NOT_AUTHORIZED,
      `manifest signer ${signer.fingerprint} (key ${signer.keyId}) not authorized to deploy ${manifest.id}`,
      {
        hint: 'sign with a key listed in auth.authorized_deployers, or add this fingerprint there',
        details: {
          podId: manifest.id,
          keyId: signer.keyId,
          fingerprint: signer.fingerprint,
          authorizedDeployers: this.deployers,
        },
      },
    );
  }
}

/** Options of {@link UserDeployerPolicy}. */
export interface UserPolicyOptions extends SignedPolicyOptions {
  /** The deploy policy (or a reloading policy file). */
  deployPolicy: DeployPolicySource;
}

/**
 * `type: user`: the signer's user-id e-mails must belong to a group the deploy policy allows for
 * the manifest's app user (`run_as`, or `p2-preparer` for that pod). Unknown app users are denied.
 *
 * @example
 * ```ts
 * const policy = new UserDeployerPolicy({ keyring, deployPolicy: DeployPolicy.parse(yamlText) });
 * await policy.authorize(manifest); // throws P2_AUTH_POLICY_DENIED when not allowed
 * ```
 */
export class UserDeployerPolicy extends SignedDeployerPolicy {
  readonly type = 'user' as const;
  private readonly deployPolicy: DeployPolicySource;

  constructor(options: UserPolicyOptions) {
    super(options);
    this.deployPolicy = options.deployPolicy;
  }

  protected async refusal(
    signer: SignerInfo,
    manifest: ManifestToAuthorize,
  ): Promise<AuthError | undefined> {
    const policy = await this.deployPolicy.current();
    const appUser = manifest.id === PREPARER_POD_ID ? PREPARER_POD_ID : manifest.runAs;
    const allowed = policy.allowedEmails(appUser);
    if (signer.emails.some((email) => allowed.has(email))) return undefined;
    const groups = policy.allowedGroups(appUser);
    return new AuthError(
      AuthErrorCodes.POLICY_DENIED,
      `signer ${signer.fingerprint} (key ${signer.keyId}, e-mails: ${signer.emails.join(', ') || 'none'}) may not deploy app user ${appUser} (pod ${manifest.id}): ` +
        (groups.length === 0
          ? `the deploy policy ${policy.source} lists no groups for ${appUser}`
          : `allowed groups are ${groups.join(', ')}`),
      {
        hint: `add one of the signer's e-mails to a group listed under apps.${appUser} in ${policy.source}`,
        details: {
          podId: manifest.id,
          appUser,
          keyId: signer.keyId,
          fingerprint: signer.fingerprint,
          emails: signer.emails,
          allowedGroups: groups,
        },
      },
    );
  }
}

/**
 * A refusal about a delegating record: its message names the record and `details.record` is set,
 * so a host knows a change of the record (not only of the intent) may lift it.
 */
function onRecord(error: unknown, where: string, details: Record<string, unknown>): unknown {
  if (!(error instanceof AuthError)) return error;
  const message = error.message.includes(where) ? error.message : `${where}: ${error.message}`;
  return new AuthError(error.code, message, {
    cause: error,
    ...(error.hint ? { hint: error.hint } : {}),
    details: { ...(error.details ?? {}), ...details },
  });
}

/** Key of the M-of-N rule that applies to every pod without a rule of its own. */
const ALL_PODS = '*';

/** The pod's own rule, else the `*` rule (own keys only: a pod named `constructor` has no rule). */
function multiSignatureRule(
  rules: Readonly<Record<string, MultiSignatureRule>> | undefined,
  podId: string,
): MultiSignatureRule | undefined {
  if (!rules) return undefined;
  if (Object.hasOwn(rules, podId)) return rules[podId];
  return Object.hasOwn(rules, ALL_PODS) ? rules[ALL_PODS] : undefined;
}

const SIGNED_MESSAGE = '-----BEGIN PGP SIGNED MESSAGE-----';

function looksClearsigned(raw: Uint8Array): boolean {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).includes(SIGNED_MESSAGE);
}
