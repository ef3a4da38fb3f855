import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type * as openpgp from 'openpgp';
import { AuthError, AuthErrorCodes } from './errors.js';
import { loadOpenpgp } from './openpgp.js';
import { describeCause, hexKeyId } from './util.js';
import { readSignaturePackets } from './verify.js';

/** Options of {@link loadSecretKeys}. */
export interface SecretKeyOptions {
  /** Passphrase for protected keys (P2's test keyring is unprotected). */
  passphrase?: string;
  /** Where the keys came from, for messages. @default '<inline secret key>' */
  source?: string;
}

/**
 * Loads secret keys from armored text (`gpg --armor --export-secret-keys`) or a binary secret
 * keyring (GnuPG 1 `secring.gpg`, `gpg --export-secret-keys`); armor is tried first. Protected
 * keys are decrypted with `passphrase`.
 *
 * @throws AuthError `P2_AUTH_SECRET_KEY_INVALID` (unreadable, no secret key, wrong or missing passphrase).
 * @example
 * ```ts
 * const [key] = await loadSecretKeys(readFileSync('secring.gpg'));
 * const signed = await signManifest(yamlText, key);
 * ```
 */
export async function loadSecretKeys(
  input: Uint8Array | string,
  options: SecretKeyOptions = {},
): Promise<openpgp.PrivateKey[]> {
  const pgp = await loadOpenpgp();
  const source = options.source ?? '<inline secret key>';
  const text = typeof input === 'string' ? input : new TextDecoder('latin1').decode(input);
  let keys: openpgp.PrivateKey[] | undefined;
  const problems: string[] = [];
  if (text.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) {
    try {
      keys = await pgp.readPrivateKeys({
        armoredKeys: typeof input === 'string' ? input : new TextDecoder().decode(input),
      });
    } catch (cause) {
      problems.push(`armored: ${describeCause(cause)}`);
    }
  }
  if (!keys) {
    try {
      const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
      keys = await pgp.readPrivateKeys({ binaryKeys: bytes });
    } catch (cause) {
      problems.push(`binary: ${describeCause(cause)}`);
    }
  }
  if (!keys || keys.length === 0) {
    throw new AuthError(
      AuthErrorCodes.SECRET_KEY_INVALID,
      `no secret key could be read from ${source} (${problems.join('; ') || 'empty'})`,
      {
        hint: 'export one with `gpg --export-secret-keys <id>` (binary) or with --armor',
        details: { source },
      },
    );
  }
  const out: openpgp.PrivateKey[] = [];
  for (const key of keys) {
    if (key.isDecrypted()) {
      out.push(key);
      continue;
    }
    const keyId = hexKeyId(key.getKeyID());
    if (options.passphrase === undefined) {
      throw new AuthError(
        AuthErrorCodes.SECRET_KEY_INVALID,
        `secret key ${keyId} in ${source} is protected by a passphrase and none was given`,
        { hint: 'pass the passphrase option', details: { source, keyId } },
      );
    }
    try {
      out.push(await pgp.decryptKey({ privateKey: key, passphrase: options.passphrase }));
    } catch (cause) {
      throw new AuthError(
        AuthErrorCodes.SECRET_KEY_INVALID,
        `cannot unlock secret key ${keyId} in ${source}: ${describeCause(cause)}`,
        { cause, hint: 'check the passphrase', details: { source, keyId } },
      );
    }
  }
  return out;
}

/**
 * Reads secret keys from a file (armored or binary).
 * @throws AuthError `P2_AUTH_SECRET_KEY_INVALID`.
 * @example
 * ```ts
 * const [key] = await loadSecretKeyFile('/root/.p2/secring.gpg');
 * ```
 */
export async function loadSecretKeyFile(
  path: string,
  options: Omit<SecretKeyOptions, 'source'> & {
    /**
     * Refuse a symlink, a file group or others may read or write, and — when this process runs as
     * root — a file root does not own (a service's own signing key).
     * @default false
     */
    private?: boolean;
  } = {},
): Promise<openpgp.PrivateKey[]> {
  let bytes: Uint8Array;
  try {
    bytes = options.private ? await readPrivateFile(path) : await readFile(path);
  } catch (cause) {
    if (cause instanceof AuthError) throw cause;
    throw new AuthError(
      AuthErrorCodes.SECRET_KEY_INVALID,
      `cannot read secret key file ${path}: ${describeCause(cause)}`,
      { cause, details: { source: path } },
    );
  }
  return loadSecretKeys(bytes, { ...options, source: path });
}

/** Reads a secret key file nobody but its owner (root, when running as root) can touch. */
async function readPrivateFile(path: string): Promise<Uint8Array> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    const problem = !stats.isFile()
      ? 'is not a regular file'
      : (stats.mode & 0o077) !== 0
        ? `has mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}: group or others may use it`
        : process.getuid?.() === 0 && stats.uid !== 0
          ? `is owned by uid ${stats.uid}, not root`
          : undefined;
    if (problem) {
      throw new AuthError(AuthErrorCodes.SECRET_KEY_INVALID, `secret key file ${path} ${problem}`, {
        hint: `make it a regular file only its owner can read: chmod 600 ${path}${process.getuid?.() === 0 ? ` && chown root:root ${path}` : ''}`,
        details: { source: path },
      });
    }
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** Options of the signing helpers. */
export interface SignOptions {
  /** Signature time. @default new Date() */
  date?: Date;
  /** Smallest RSA signing key allowed (see `VerifyOptions.minRSABits`). @default 2047 */
  minRSABits?: number;
  /**
   * Human-readable notations (name → value, names as `name@domain`) put in each signature and
   * covered by it; delegated signing uses them to name the record a manifest was written for.
   */
  notations?: Readonly<Record<string, string>>;
}

/**
 * Clear-signs a manifest, as `gpg --clearsign` does. The result parses with @p2/manifest
 * (`parseManifest`), verifies with `gpg --verify` and with {@link verifySignature}. One trailing
 * line break of `text` is dropped, as gpg leaves it outside the signed text. Several keys produce a
 * signature block with one packet per key (for M-of-N pods).
 *
 * @throws AuthError `P2_AUTH_SIGNING_FAILED`.
 * @example
 * ```ts
 * const signed = await signManifest('id: hello\nlaunchables: {}\n', key);
 * // '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nid: hello\n…-----END PGP SIGNATURE-----\n'
 * ```
 */
export async function signManifest(
  text: string,
  keys: openpgp.PrivateKey | readonly openpgp.PrivateKey[],
  options: SignOptions = {},
): Promise<string> {
  const pgp = await loadOpenpgp();
  const signingKeys = Array.isArray(keys) ? [...keys] : [keys as openpgp.PrivateKey];
  try {
    const message = await pgp.createCleartextMessage({ text: text.replace(/\r?\n$/, '') });
    return withUnixLineEnds(
      await pgp.sign({
        message,
        signingKeys,
        config: signConfig(options),
        ...(options.date ? { date: options.date } : {}),
        ...notationOption(options),
      }),
    );
  } catch (cause) {
    throw signingFailed('the manifest', signingKeys, cause);
  }
}

/**
 * Adds one more signature to an already clear-signed manifest (co-signing for M-of-N pods). The
 * signed text is unchanged; the new packet is appended to the signature block.
 *
 * @throws AuthError `P2_AUTH_MALFORMED_SIGNATURE` when `signedText` is not clear-signed,
 *   `P2_AUTH_SIGNING_FAILED`.
 * @example
 * ```ts
 * const twice = await cosignManifest(await signManifest(text, alice), bob);
 * ```
 */
export async function cosignManifest(
  signedText: string,
  key: openpgp.PrivateKey,
  options: SignOptions = {},
): Promise<string> {
  const pgp = await loadOpenpgp();
  let message: openpgp.CleartextMessage;
  try {
    message = await pgp.readCleartextMessage({ cleartextMessage: signedText });
  } catch (cause) {
    throw new AuthError(
      AuthErrorCodes.MALFORMED_SIGNATURE,
      `cannot co-sign: not a clear-signed document (${describeCause(cause)})`,
      { cause, hint: 'sign it first with signManifest or gpg --clearsign' },
    );
  }
  const existing = signatureOf(message).packets;
  try {
    const added = await pgp.sign({
      message: await pgp.createCleartextMessage({ text: message.getText() }),
      signingKeys: [key],
      config: signConfig(options),
      ...(options.date ? { date: options.date } : {}),
    });
    const extra = await pgp.readCleartextMessage({ cleartextMessage: added });
    const packets = new pgp.PacketList<openpgp.SignaturePacket>();
    packets.push(...existing, ...signatureOf(extra).packets);
    // openpgp's type declarations omit CleartextMessage's `signature` field and constructor, which
    // exist at runtime (openpgp 6 cleartext.js); co-signing needs both.
    const CleartextMessageWithSignature = pgp.CleartextMessage as unknown as new (
      text: string,
      signature: openpgp.Signature,
    ) => openpgp.CleartextMessage;
    const combined = new CleartextMessageWithSignature(
      message.getText(),
      new pgp.Signature(packets),
    );
    return withUnixLineEnds(combined.armor());
  } catch (cause) {
    throw signingFailed('the manifest', [key], cause);
  }
}

/**
 * Makes a detached signature over an artifact (or a build manifest), as `gpg --detach-sign`:
 * binary by default (P2's `.sig` files), armored on request. Returns the bytes to write next to
 * the artifact.
 *
 * @throws AuthError `P2_AUTH_SIGNING_FAILED`, `P2_AUTH_ARTIFACT_UNREADABLE` when `path` cannot be read.
 * @example
 * ```ts
 * writeFileSync('a.tar.gz.sig', await signArtifact({ path: 'a.tar.gz' }, key));
 * ```
 */
export async function signArtifact(
  artifact: Uint8Array | { path: string },
  key: openpgp.PrivateKey,
  options: SignOptions & { armor?: boolean } = {},
): Promise<Uint8Array> {
  const pgp = await loadOpenpgp();
  let bytes: Uint8Array;
  if (artifact instanceof Uint8Array) {
    bytes = artifact;
  } else {
    try {
      bytes = await readFile(artifact.path);
    } catch (cause) {
      throw new AuthError(
        AuthErrorCodes.ARTIFACT_UNREADABLE,
        `cannot read ${artifact.path} to sign it: ${describeCause(cause)}`,
        { cause, details: { location: artifact.path } },
      );
    }
  }
  try {
    const message = await pgp.createMessage({ binary: bytes });
    const common = {
      message,
      signingKeys: [key],
      detached: true,
      config: signConfig(options),
      ...(options.date ? { date: options.date } : {}),
    };
    if (options.armor) {
      return new TextEncoder().encode(await pgp.sign({ ...common, format: 'armored' }));
    }
    return await pgp.sign({ ...common, format: 'binary' });
  } catch (cause) {
    throw signingFailed('the artifact', [key], cause);
  }
}

/**
 * Joins detached signatures (armored or binary) into one binary `.sig` holding every packet, for
 * artifacts or digest files that several people sign.
 *
 * @throws AuthError `P2_AUTH_MALFORMED_SIGNATURE`, `P2_AUTH_TRUNCATED_SIGNATURE`.
 * @example
 * ```ts
 * const both = await appendSignature(await signArtifact(bytes, alice), await signArtifact(bytes, bob));
 * ```
 */
export async function appendSignature(
  existing: Uint8Array | string,
  added: Uint8Array | string,
): Promise<Uint8Array> {
  const a = await readSignaturePackets(existing, 'existing signature');
  const b = await readSignaturePackets(added, 'added signature');
  const packets = new (await loadOpenpgp()).PacketList<openpgp.SignaturePacket>();
  packets.push(...a.packets, ...b.packets);
  return packets.write();
}

/**
 * openpgp.js writes the cleartext with CRLF line ends; gpg on Unix writes LF, and manifests in the
 * store are LF text. The signature covers the canonical (CRLF) form either way, so only the
 * presentation changes.
 */
function withUnixLineEnds(armored: string): string {
  const end = armored.indexOf('\n-----BEGIN PGP SIGNATURE-----');
  if (end < 0) return armored;
  return armored.slice(0, end).replace(/\r\n/g, '\n') + armored.slice(end);
}

function signatureOf(message: openpgp.CleartextMessage): openpgp.Signature {
  return (message as unknown as { signature: openpgp.Signature }).signature;
}

/** `signatureNotations` for openpgp.sign: one non-critical, human-readable notation each. */
function notationOption(options: SignOptions): {
  signatureNotations?: openpgp.RawNotation[];
} {
  const entries = Object.entries(options.notations ?? {});
  if (entries.length === 0) return {};
  return {
    signatureNotations: entries.map(([name, value]) => ({
      name,
      value: new TextEncoder().encode(value),
      humanReadable: true,
      critical: false,
    })),
  };
}

function signConfig(options: SignOptions): Partial<openpgp.Config> {
  return options.minRSABits === undefined ? {} : { minRSABits: options.minRSABits };
}

function signingFailed(
  what: string,
  keys: readonly openpgp.PrivateKey[],
  cause: unknown,
): AuthError {
  const keyIds = keys.map((k) => hexKeyId(k.getKeyID()));
  return new AuthError(
    AuthErrorCodes.SIGNING_FAILED,
    `cannot sign ${what} with key ${keyIds.join(', ')}: ${describeCause(cause)}`,
    { cause, details: { keyIds } },
  );
}
