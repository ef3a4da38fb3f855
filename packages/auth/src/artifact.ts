import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { redactUrl } from '@p2/errors';
import { parse as parseYaml } from 'yaml';
import { AuthError, AuthErrorCodes } from './errors.js';
import { Keyring, type KeyringSource } from './keyring.js';
import { describeCause } from './util.js';
import { type SignerInfo, type VerifyOptions, verifySignature } from './verify.js';

/** P2's `artifact_auth.type` values. */
export type ArtifactPolicyType = 'none' | 'build' | 'manifest' | 'either';

/**
 * What an artifact verifier gets. The caller (hoist) downloads; the verifier only checks bytes.
 * Give the artifact as `artifactPath` (or `artifactBytes`); `manifest` verification can use a
 * `sha256` computed while downloading instead.
 */
export interface ArtifactVerificationInput {
  /** Path of the downloaded artifact (`.tar.gz`). */
  artifactPath?: string;
  /** The artifact's bytes, when they are in memory already. */
  artifactBytes?: Uint8Array;
  /** Lower- or upper-case hex SHA-256 of the artifact, when already known. */
  sha256?: string;
  /** Contents of `<location>.sig` (armored or binary detached signature over the tarball). */
  signature?: Uint8Array;
  /** Contents of `<location>.manifest` (YAML `artifact_sha: <hex>`). */
  buildManifest?: Uint8Array;
  /** Contents of `<location>.manifest.sig` (armored or binary, over the build manifest bytes). */
  buildManifestSignature?: Uint8Array;
  /** Where the artifact came from, for messages (credentials are redacted). */
  location?: string;
}

/** A successful artifact verification. */
export interface ArtifactVerification {
  policy: ArtifactPolicyType;
  /** What actually vouched for the artifact. */
  method: 'none' | 'build' | 'manifest';
  /** Who signed (absent for `none`). */
  signer?: SignerInfo;
}

/**
 * Checks a downloaded artifact before it is extracted. `@p2/hoist` takes one as a parameter;
 * `needs` tells it which companion files to fetch (see {@link artifactVerificationUrls}).
 */
export interface ArtifactVerifier {
  readonly type: ArtifactPolicyType;
  /** Which companion files this verifier reads. */
  readonly needs: { signature: boolean; buildManifest: boolean };
  /**
   * @throws AuthError `P2_AUTH_ARTIFACT_SIGNATURE_MISSING`, `P2_AUTH_BUILD_MANIFEST_INVALID`,
   *   `P2_AUTH_ARTIFACT_DIGEST_MISMATCH`, `P2_AUTH_ARTIFACT_UNVERIFIED`, `P2_AUTH_ARTIFACT_UNREADABLE`
   *   or any signature code of `verifySignature`.
   */
  verifyArtifact(input: ArtifactVerificationInput): Promise<ArtifactVerification>;
}

/**
 * The companion-file URLs of an artifact, P2's convention: suffixes are appended to the URL
 * *path*, the query string is kept.
 *
 * @example
 * ```ts
 * artifactVerificationUrls('https://h/a.tar.gz?x=1').buildManifestSignature;
 * // 'https://h/a.tar.gz.manifest.sig?x=1'
 * ```
 */
export function artifactVerificationUrls(location: string | URL): {
  signature: string;
  buildManifest: string;
  buildManifestSignature: string;
} {
  const withSuffix = (suffix: string): string => {
    const url = new URL(location);
    url.pathname = `${url.pathname}${suffix}`;
    return url.href;
  };
  return {
    signature: withSuffix('.sig'),
    buildManifest: withSuffix('.manifest'),
    buildManifestSignature: withSuffix('.manifest.sig'),
  };
}

/** Options of {@link createArtifactVerifier}. */
export interface ArtifactVerifierOptions extends Omit<VerifyOptions, 'subject'> {
  /** Required unless `type` is `none`: a keyring, a reloading keyring file, or a path (loaded once, as P2 did). */
  keyring?: KeyringSource | string;
}

/**
 * Creates P2's artifact verifier: `none`, `build` (detached signature over the tarball),
 * `manifest` (signed build manifest whose `artifact_sha` matches), or `either` (manifest first,
 * then build).
 *
 * @throws AuthError `P2_AUTH_CONFIG_INVALID` (unknown type, no keyring), `P2_AUTH_KEYRING_INVALID`.
 * @example
 * ```ts
 * const verifier = await createArtifactVerifier('manifest', { keyring: '/etc/p2/artifact-keys.gpg' });
 * await verifier.verifyArtifact({ artifactPath, buildManifest, buildManifestSignature });
 * // { policy: 'manifest', method: 'manifest', signer: { fingerprint: 'C8D4…', … } }
 * ```
 */
export async function createArtifactVerifier(
  type: ArtifactPolicyType | '' | undefined,
  options: ArtifactVerifierOptions = {},
): Promise<ArtifactVerifier> {
  const policy = type === '' || type === undefined ? 'none' : type;
  if (!['none', 'build', 'manifest', 'either'].includes(policy)) {
    throw new AuthError(
      AuthErrorCodes.CONFIG_INVALID,
      `artifact_auth.type: expected one of none, build, manifest, either; found ${JSON.stringify(type)}`,
      { details: { field: 'artifact_auth.type' } },
    );
  }
  if (policy === 'none') return new ArtifactVerifierImpl('none', undefined, options);
  if (options.keyring === undefined) {
    throw new AuthError(
      AuthErrorCodes.CONFIG_INVALID,
      `artifact_auth.keyring: required for artifact_auth type ${policy}`,
      { details: { field: 'artifact_auth.keyring' } },
    );
  }
  const keyring =
    typeof options.keyring === 'string' ? await Keyring.fromFile(options.keyring) : options.keyring;
  return new ArtifactVerifierImpl(policy, keyring, options);
}

class ArtifactVerifierImpl implements ArtifactVerifier {
  readonly needs: { signature: boolean; buildManifest: boolean };

  constructor(
    readonly type: ArtifactPolicyType,
    private readonly keyring: KeyringSource | undefined,
    private readonly options: ArtifactVerifierOptions,
  ) {
    this.needs = {
      signature: type === 'build' || type === 'either',
      buildManifest: type === 'manifest' || type === 'either',
    };
  }

  async verifyArtifact(input: ArtifactVerificationInput): Promise<ArtifactVerification> {
    if (this.type === 'none') return { policy: 'none', method: 'none' };
    const keyring = await this.keyring!.current();
    const where = describeArtifact(input);
    const verify = { ...this.options, keyring: undefined };
    const viaManifest = async (): Promise<ArtifactVerification> => {
      if (!input.buildManifest || !input.buildManifestSignature) {
        throw missing(where, 'build manifest and its signature (.manifest, .manifest.sig)');
      }
      const { signer } = await verifySignature(
        input.buildManifest,
        input.buildManifestSignature,
        keyring,
        { ...verify, subject: `build manifest of ${where}` },
      );
      const expected = readArtifactSha(input.buildManifest, where);
      const actual = (input.sha256 ?? (await sha256Of(input, where))).toLowerCase();
      if (actual !== expected) {
        throw new AuthError(
          AuthErrorCodes.ARTIFACT_DIGEST_MISMATCH,
          `artifact ${where} has sha256 ${actual}, but its signed build manifest says ${expected}`,
          {
            hint: 'the artifact changed after it was built and signed; rebuild it or fix the location',
            details: { location: where, expected, actual, keyId: signer.keyId },
          },
        );
      }
      return { policy: this.type, method: 'manifest', signer };
    };
    const viaBuild = async (): Promise<ArtifactVerification> => {
      if (!input.signature) throw missing(where, 'build signature (.sig)');
      const data = input.artifactBytes ?? (await readablePath(input, where));
      const { signer } = await verifySignature(data, input.signature, keyring, {
        ...verify,
        subject: `artifact ${where}`,
      });
      return { policy: this.type, method: 'build', signer };
    };
    if (this.type === 'manifest') return viaManifest();
    if (this.type === 'build') return viaBuild();
    try {
      return await viaManifest();
    } catch (manifestError) {
      try {
        return await viaBuild();
      } catch (buildError) {
        throw new AuthError(
          AuthErrorCodes.ARTIFACT_UNVERIFIED,
          `artifact ${where} could not be verified: build manifest: ${describeCause(manifestError)}; build signature: ${describeCause(buildError)}`,
          {
            cause: buildError,
            hint: 'publish a signed build manifest (.manifest + .manifest.sig) or a build signature (.sig) beside the artifact',
            details: {
              location: where,
              manifestError: codeOf(manifestError),
              buildError: codeOf(buildError),
            },
          },
        );
      }
    }
  }
}

function codeOf(error: unknown): string {
  return error instanceof AuthError ? error.code : describeCause(error);
}

function describeArtifact(input: ArtifactVerificationInput): string {
  if (input.location) return redactUrl(input.location);
  return input.artifactPath ?? '<artifact in memory>';
}

function missing(where: string, what: string): AuthError {
  return new AuthError(
    AuthErrorCodes.ARTIFACT_SIGNATURE_MISSING,
    `artifact ${where}: no ${what} was supplied`,
    {
      hint: 'publish the file beside the artifact, or relax artifact_auth.type',
      details: { location: where },
    },
  );
}

/**
 * Reads `artifact_sha` from a build manifest (YAML, P2's format; no trailing newline needed).
 * @throws AuthError `P2_AUTH_BUILD_MANIFEST_INVALID`.
 * @example readArtifactSha(Buffer.from('artifact_sha: 2b87…b294')) // '2b87…b294'
 */
export function readArtifactSha(buildManifest: Uint8Array, where = 'artifact'): string {
  let doc: unknown;
  try {
    // failsafe schema: every scalar stays the text it was written as, like P2's string field
    // (an all-digit digest must not turn into a number).
    doc = parseYaml(new TextDecoder().decode(buildManifest), { schema: 'failsafe' });
  } catch (cause) {
    // The YAML error quotes the offending text: say where it is, never what it says.
    const at = (cause as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    throw invalidBuildManifest(
      where,
      `not YAML${at ? ` (line ${at.line}, column ${at.col})` : ''}; expected \`artifact_sha: <64 hex digits>\``,
    ); // no `cause`: its message is the quote
  }
  const sha =
    doc && typeof doc === 'object' ? (doc as Record<string, unknown>).artifact_sha : undefined;
  if (typeof sha !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha)) {
    throw invalidBuildManifest(
      where,
      `expected \`artifact_sha: <64 hex digits>\`, found ${sha === undefined ? 'no artifact_sha' : 'another value'}`,
    );
  }
  return sha.toLowerCase();
}

function invalidBuildManifest(where: string, problem: string, cause?: unknown): AuthError {
  return new AuthError(
    AuthErrorCodes.BUILD_MANIFEST_INVALID,
    `build manifest of ${where}: ${problem}`,
    { cause, details: { location: where } },
  );
}

/** The artifact file, streamed by the verifier; checked up front so a missing file says so. */
async function readablePath(
  input: ArtifactVerificationInput,
  where: string,
): Promise<{ path: string }> {
  if (!input.artifactPath) throw unreadable(where, 'neither artifactPath nor artifactBytes given');
  try {
    await access(input.artifactPath, constants.R_OK);
  } catch (cause) {
    throw unreadable(where, describeCause(cause), cause);
  }
  return { path: input.artifactPath };
}

async function sha256Of(input: ArtifactVerificationInput, where: string): Promise<string> {
  if (input.artifactBytes) return createHash('sha256').update(input.artifactBytes).digest('hex');
  if (!input.artifactPath) {
    throw unreadable(where, 'neither artifactPath, artifactBytes nor sha256 given');
  }
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(input.artifactPath)) hash.update(chunk as Buffer);
  } catch (cause) {
    throw unreadable(where, describeCause(cause), cause);
  }
  return hash.digest('hex');
}

function unreadable(where: string, problem: string, cause?: unknown): AuthError {
  return new AuthError(
    AuthErrorCodes.ARTIFACT_UNREADABLE,
    `cannot read artifact ${where}: ${problem}`,
    { cause, details: { location: where } },
  );
}

/** The artifact as a downloader hands it over (the shape `@p2/hoist`'s `ArtifactVerifier.verify` receives). */
export interface DownloadedArtifact {
  /** Local file holding exactly the bytes that will be extracted. */
  path: string;
  /** Lower-case hex SHA-256 of those bytes. */
  sha256: string;
  /** Location for messages, credentials redacted. */
  display: string;
  /** Companion file URLs (`<url>.sig`, `<url>.manifest`, `<url>.manifest.sig`). */
  verificationLocations: { signature: string; manifest: string; manifestSignature: string };
}

/**
 * Fetches one companion file; resolves `undefined` when it does not exist (HTTP 404, no such file)
 * and throws for anything else (the error ends up as the `cause`).
 */
export type FetchCompanion = (url: string) => Promise<Uint8Array | undefined>;

/**
 * Adapts an {@link ArtifactVerifier} to a downloader that only hands over the artifact and its
 * companion URLs (such as `@p2/hoist`'s `installArtifact({ verifier })`): fetches just the files
 * the policy needs, with the caller's `fetch`, then verifies. Keeps `@p2/auth` free of HTTP.
 *
 * @throws AuthError as {@link ArtifactVerifier.verifyArtifact}.
 * @example
 * ```ts
 * const verifier = withCompanionFiles(await createArtifactVerifier('either', { keyring }), fetchBytes);
 * await installArtifact({ location, launchableRoot, launchableId, verifier });
 * ```
 */
export function withCompanionFiles(
  verifier: ArtifactVerifier,
  fetchCompanion: FetchCompanion,
): { verify(artifact: DownloadedArtifact): Promise<void> } {
  return {
    async verify(artifact: DownloadedArtifact): Promise<void> {
      const urls = artifact.verificationLocations;
      const [signature, buildManifest, buildManifestSignature] = await Promise.all([
        verifier.needs.signature ? fetchCompanion(urls.signature) : undefined,
        verifier.needs.buildManifest ? fetchCompanion(urls.manifest) : undefined,
        verifier.needs.buildManifest ? fetchCompanion(urls.manifestSignature) : undefined,
      ]);
      await verifier.verifyArtifact({
        artifactPath: artifact.path,
        sha256: artifact.sha256,
        location: artifact.display,
        ...(signature ? { signature } : {}),
        ...(buildManifest ? { buildManifest } : {}),
        ...(buildManifestSignature ? { buildManifestSignature } : {}),
      });
    },
  };
}

/** What {@link checkArtifactSignatures} found: each of P2's two ways of vouching for an artifact. */
export interface ArtifactSignatureReport {
  /** A signed build manifest names this artifact's digest. */
  signedManifest: boolean;
  /** A detached build signature covers the artifact's bytes. */
  signedBuild: boolean;
  /** Why the build manifest did not vouch for it (absent when it did). */
  manifestError?: string;
  /** Why the build signature did not (absent when it did). */
  buildError?: string;
}

/**
 * Checks an artifact both ways P2 knew — a signed build manifest (`.manifest` + `.manifest.sig`)
 * and a detached build signature (`.sig`) — and reports each, as P2's `p2-verify-artifact` did
 * (it never fails: the report says what holds).
 *
 * @example
 * ```ts
 * await checkArtifactSignatures({ artifactPath, signature }, '/etc/p2/artifact-keys.gpg');
 * // { signedManifest: false, signedBuild: true, manifestError: 'artifact … has no build manifest …' }
 * ```
 */
export async function checkArtifactSignatures(
  input: ArtifactVerificationInput,
  keyring: ArtifactVerifierOptions['keyring'],
): Promise<ArtifactSignatureReport> {
  const attempt = async (type: 'manifest' | 'build') => {
    try {
      await (await createArtifactVerifier(type, { keyring })).verifyArtifact(input);
      return undefined;
    } catch (error) {
      return describeCause(error);
    }
  };
  const [manifestError, buildError] = [await attempt('manifest'), await attempt('build')];
  return {
    signedManifest: manifestError === undefined,
    signedBuild: buildError === undefined,
    ...(manifestError === undefined ? {} : { manifestError }),
    ...(buildError === undefined ? {} : { buildError }),
  };
}
