import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type * as openpgp from 'openpgp';
import { AuthError, AuthErrorCodes } from './errors.js';
import { type Keyring, verifiedIdentities } from './keyring.js';
import { loadOpenpgp } from './openpgp.js';
import { describeCause, hexKeyId } from './util.js';

/** Options of every verification. */
export interface VerifyOptions {
  /**
   * Smallest RSA key accepted, in bits. openpgp.js refuses RSA keys under 2047 bits by default; P2
   * (Go's openpgp) accepted any size, and P2's user-policy test keys are RSA-1024. Pass `1024` to
   * accept such legacy keys deliberately.
   * @default 2047
   */
  minRSABits?: number;
  /**
   * The time at which signatures must be valid (not created in the future, not past their own
   * expiry). Key expiry is judged at the signature's creation time, so a signature made while the
   * key was valid stays valid after the key expires, as in P2.
   * @default new Date()
   */
  date?: Date;
  /** What was signed, for messages (`manifest hello`, `artifact https://…/a.tar.gz`). @default 'document' */
  subject?: string;
  /**
   * Tolerated clock difference between the signer and this host, in seconds: a signature dated up
   * to this far in the future is accepted (P2 did not check signature times at all; gpg refuses
   * future signatures outright, which breaks deploys from a laptop whose clock runs ahead).
   * @default 300
   */
  clockSkewSeconds?: number;
  /**
   * Accept SHA-1 document signatures, which openpgp.js refuses by default. gpg 1.x signed with
   * SHA-1 by default, and P2 accepted them; turn this on only to read such old signatures.
   * @default false
   */
  allowSha1?: boolean;
}

/** Who made a verified signature. */
export interface SignerInfo {
  /** Upper-case 40-hex fingerprint of the signer's primary key (P2's "signer ID"). */
  fingerprint: string;
  /** Upper-case 16-hex key id of the primary key. */
  keyId: string;
  /** Upper-case 16-hex key id named by the signature (a subkey id when a subkey signed). */
  signingKeyId: string;
  /** User ids with a valid self-signature, e.g. `p2universe <deploy-dev@squareup.com>`. */
  userIds: string[];
  /** E-mail addresses of those user ids. */
  emails: string[];
  /** When the signature was made. */
  created: Date;
  /**
   * Human-readable notations of the signature (name → value), covered by the signature; present
   * only when there are some. Delegated signing uses `p2-record@p2`.
   */
  notations?: Record<string, string>;
}

/**
 * What was signed: bytes in memory, or a file that is streamed (artifacts of any size are verified
 * without being read into memory).
 */
export type SignedData = Uint8Array | { path: string };

/** The result of {@link verifySignature}. */
export interface VerifiedSignature {
  /** The first valid signer (the one P2 would have reported). */
  signer: SignerInfo;
  /** Every distinct valid signer whose key is in the keyring, in signature order. */
  signers: SignerInfo[];
}

/** The parts of a clearsigned document that verification needs (a subset of @p2/manifest's `ClearsignedParts`). */
export interface ClearsignedInput {
  /** RFC 4880 canonical text: CRLF-joined lines, no trailing line break. */
  signedBytes: Uint8Array;
  /** The de-armored signature packet(s). */
  signature: Uint8Array;
}

/**
 * Verifies an OpenPGP signature over `data` (bytes, or `{ path }` to stream a file of any size)
 * against a keyring. The signature may be armored or
 * binary and may hold several signature packets (co-signatures); every packet made by a key in the
 * keyring must verify, packets by unknown keys are ignored as long as one known key signed.
 * Works for detached signatures over artifacts and build manifests (binary, type 0x00) and for the
 * signature of a clearsigned manifest (text, type 0x01) given its canonical signed bytes.
 *
 * @throws AuthError `P2_AUTH_UNKNOWN_SIGNER` (message names the key id, e.g. `5BEA91BADD6AD387`),
 *   `P2_AUTH_SIGNATURE_MISMATCH`, `P2_AUTH_KEY_MISMATCH`, `P2_AUTH_TRUNCATED_SIGNATURE`,
 *   `P2_AUTH_MALFORMED_SIGNATURE`, `P2_AUTH_WEAK_KEY`, `P2_AUTH_WEAK_HASH`,
 *   `P2_AUTH_SIGNATURE_INVALID`, `P2_AUTH_ARTIFACT_UNREADABLE` (a `{ path }` that cannot be read).
 * @example
 * ```ts
 * const { signer } = await verifySignature({ path: 'a.tar.gz' }, readFileSync('a.tar.gz.sig'), keyring);
 * signer.fingerprint; // 'C8D49DFED934CAC923CA417E079E5B0BE07F19DE'
 * ```
 */
export async function verifySignature(
  data: SignedData,
  signature: Uint8Array | string,
  keyring: Keyring,
  options: VerifyOptions = {},
): Promise<VerifiedSignature> {
  const pgp = await loadOpenpgp();
  const subject = options.subject ?? 'document';
  const parsed = await readSignaturePackets(signature, subject);
  const config = verifyConfig(options, pgp);
  const skewMs = (options.clockSkewSeconds ?? 300) * 1000;
  const date = new Date((options.date ?? new Date()).getTime() + skewMs);
  const streamed = !(data instanceof Uint8Array);
  const message = streamed
    ? await pgp.createMessage({ binary: fileStream(data.path) })
    : await pgp.createMessage({ binary: data });
  let results: Awaited<ReturnType<typeof openpgp.verify>>['signatures'];
  try {
    const verification = await pgp.verify({
      message,
      signature: parsed,
      verificationKeys: [...keyring.keys],
      format: 'binary',
      config,
      date,
    });
    results = verification.signatures;
    if (streamed) await drain(verification.data as unknown as ReadableStream<Uint8Array>, subject);
  } catch (cause) {
    if (cause instanceof AuthError) throw cause;
    throw new AuthError(
      AuthErrorCodes.SIGNATURE_INVALID,
      `cannot verify the signature of ${subject}: ${describeCause(cause)}`,
      { cause, details: { subject } },
    );
  }
  if (results.length === 0) {
    throw new AuthError(
      AuthErrorCodes.MALFORMED_SIGNATURE,
      `the signature of ${subject} holds no document signature (only key certifications)`,
      { hint: 'sign with `gpg --detach-sign` or `gpg --clearsign`', details: { subject } },
    );
  }
  const signers: SignerInfo[] = [];
  const failures: AuthError[] = [];
  for (const result of results) {
    const keyId = hexKeyId(result.keyID);
    const key = keyring.findByKeyId(result.keyID);
    if (!key) {
      failures.push(unknownSigner(keyId, subject, keyring));
      continue;
    }
    const fingerprint = key.getFingerprint().toUpperCase();
    try {
      await result.verified;
    } catch (cause) {
      failures.push(classifyFailure(cause, { keyId, fingerprint, subject, keyring }));
      continue;
    }
    if (signers.some((s) => s.fingerprint === fingerprint)) continue;
    const packet = (await result.signature).packets[0];
    const created = packet?.created ?? new Date(0);
    const identities = await verifiedIdentities(key, created, config);
    const notations = readableNotations(packet);
    signers.push({
      fingerprint,
      keyId: hexKeyId(key.getKeyID()),
      signingKeyId: keyId,
      ...identities,
      created,
      ...(notations ? { notations } : {}),
    });
  }
  const serious = failures.find((f) => f.code !== AuthErrorCodes.UNKNOWN_SIGNER);
  if (serious) throw serious;
  const first = signers[0];
  if (!first) throw failures[0] ?? unknownSigner('0', subject, keyring);
  return { signer: first, signers };
}

/**
 * Verifies the signature of a clearsigned document split by @p2/manifest (`manifest.clearsigned`).
 *
 * @throws AuthError as {@link verifySignature}.
 * @example
 * ```ts
 * const manifest = parseManifest(signedText);
 * const { signer } = await verifyClearsigned(manifest.clearsigned!, keyring);
 * ```
 */
export function verifyClearsigned(
  parts: ClearsignedInput,
  keyring: Keyring,
  options: VerifyOptions = {},
): Promise<VerifiedSignature> {
  return verifySignature(parts.signedBytes, parts.signature, keyring, options);
}

function fileStream(path: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
}

/** Reads a verification's data stream to its end; openpgp checks the signature when it ends. */
async function drain(stream: ReadableStream<Uint8Array>, subject: string): Promise<void> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done } = await reader.read();
      if (done) return;
    }
  } catch (cause) {
    throw new AuthError(
      AuthErrorCodes.ARTIFACT_UNREADABLE,
      `cannot read ${subject} to verify its signature: ${describeCause(cause)}`,
      { cause, details: { subject } },
    );
  }
}

/** @internal openpgp configuration for verification. */
function verifyConfig(
  options: {
    minRSABits?: number;
    allowSha1?: boolean;
  },
  pgp: typeof openpgp,
): Partial<openpgp.Config> {
  return {
    ...(options.minRSABits === undefined ? {} : { minRSABits: options.minRSABits }),
    ...(options.allowSha1
      ? {
          rejectMessageHashAlgorithms: new Set([pgp.enums.hash.md5, pgp.enums.hash.ripemd]),
        }
      : {}),
  };
}

/** The human-readable notation data of a signature packet, or undefined when it has none. */
function readableNotations(
  packet: openpgp.SignaturePacket | undefined,
): Record<string, string> | undefined {
  const raw = packet?.rawNotations ?? [];
  const out: Record<string, string> = {};
  for (const n of raw) {
    if (n.humanReadable) out[n.name] = new TextDecoder().decode(n.value);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function unknownSigner(keyId: string, subject: string, keyring: Keyring): AuthError {
  return new AuthError(
    AuthErrorCodes.UNKNOWN_SIGNER,
    `unknown signer: ${keyId} (signature of ${subject}; key not in keyring ${keyring.source})`,
    {
      hint: `add the signer's public key to the keyring (gpg --export ${keyId}) or sign with a key it holds`,
      details: { keyId, subject, keyring: keyring.source },
    },
  );
}

function classifyFailure(
  cause: unknown,
  context: { keyId: string; fingerprint: string; subject: string; keyring: Keyring },
): AuthError {
  const { keyId, fingerprint, subject } = context;
  const reason = describeCause(cause);
  const details = { keyId, fingerprint, subject };
  if (/Signed digest did not match/i.test(reason)) {
    return new AuthError(
      AuthErrorCodes.SIGNATURE_MISMATCH,
      `signature by key ${keyId} does not match ${subject}: the content was changed after signing, or the signature belongs to another document`,
      { cause, details, hint: 'fetch the document again or have it signed again' },
    );
  }
  if (
    /Signature verification failed|does not match issuer key algorithm|not issued by the given public key/i.test(
      reason,
    )
  ) {
    return new AuthError(
      AuthErrorCodes.KEY_MISMATCH,
      `signature of ${subject} names key ${keyId} but was not made by that key (wrong or forged key)`,
      { cause, details, hint: 'sign again with the key the keyring holds for this signer' },
    );
  }
  if (/Insecure (message )?hash algorithm/i.test(reason)) {
    return new AuthError(
      AuthErrorCodes.WEAK_HASH,
      `signature of ${subject} by key ${keyId} was refused: ${reason}`,
      {
        cause,
        details,
        hint: 'sign again with SHA-256 or better (gpg --digest-algo SHA256), or set allowSha1 to read old SHA-1 signatures on purpose',
      },
    );
  }
  if (/too weak/i.test(reason)) {
    return new AuthError(
      AuthErrorCodes.WEAK_KEY,
      `signature of ${subject} by key ${keyId} was refused: ${reason}`,
      {
        cause,
        details,
        hint: 'use a stronger key, or set minRSABits (e.g. 1024) to accept legacy RSA keys on purpose',
      },
    );
  }
  return new AuthError(
    AuthErrorCodes.SIGNATURE_INVALID,
    `signature of ${subject} by key ${keyId} is not valid: ${reason}`,
    { cause, details },
  );
}

const PACKET_NAMES: Record<number, string> = {
  1: 'an encrypted session key',
  2: 'a signature',
  4: 'a one-pass signature',
  5: 'a secret key',
  6: 'a public key',
  8: 'compressed data',
  11: 'literal data',
  13: 'a user id',
  14: 'a public subkey',
};

/**
 * @internal Reads armored or binary signature bytes into an openpgp `Signature`, telling truncated
 * data apart from data that is not a signature at all.
 */
export async function readSignaturePackets(
  input: Uint8Array | string,
  subject: string,
): Promise<openpgp.Signature> {
  const pgp = await loadOpenpgp();
  let bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 200)).trimStart();
  if (head.startsWith('-----BEGIN PGP')) {
    const text = new TextDecoder().decode(bytes);
    if (!text.startsWith('-----BEGIN PGP SIGNATURE-----', text.indexOf('-----BEGIN PGP'))) {
      throw malformed(
        subject,
        `expected an armored signature, found "${head.split('\n')[0]?.trim()}"`,
      );
    }
    if (!text.includes('-----END PGP SIGNATURE-----')) {
      throw new AuthError(
        AuthErrorCodes.TRUNCATED_SIGNATURE,
        `the armored signature of ${subject} is truncated: no "-----END PGP SIGNATURE-----" line`,
        { hint: 'copy or download the whole signature again', details: { subject } },
      );
    }
    try {
      bytes = (await pgp.unarmor(text)).data as Uint8Array;
    } catch (cause) {
      throw new AuthError(
        AuthErrorCodes.TRUNCATED_SIGNATURE,
        `the armored signature of ${subject} is damaged: ${describeCause(cause)}`,
        { cause, hint: 'copy or download the whole signature again', details: { subject } },
      );
    }
  }
  checkPacketFraming(bytes, subject);
  try {
    return await pgp.readSignature({ binarySignature: bytes });
  } catch (cause) {
    throw malformed(subject, describeCause(cause), cause);
  }
}

function malformed(subject: string, found: string, cause?: unknown): AuthError {
  return new AuthError(
    AuthErrorCodes.MALFORMED_SIGNATURE,
    `the signature of ${subject} is not an OpenPGP signature: ${found}`,
    {
      cause,
      hint: 'expected `gpg --detach-sign` output (binary) or `gpg --armor --detach-sign` text',
      details: { subject },
    },
  );
}

/** Walks OpenPGP packet headers: every packet must be a signature and fit in the data. */
function checkPacketFraming(bytes: Uint8Array, subject: string): void {
  if (bytes.length === 0) throw malformed(subject, 'it is empty');
  let offset = 0;
  while (offset < bytes.length) {
    const tagByte = bytes[offset]!;
    if ((tagByte & 0x80) === 0) {
      throw malformed(subject, `byte ${offset} is not an OpenPGP packet header`);
    }
    const newFormat = (tagByte & 0x40) !== 0;
    const tag = newFormat ? tagByte & 0x3f : (tagByte >> 2) & 0x0f;
    let headerLength: number;
    let bodyLength: number;
    const at = (i: number): number | undefined => bytes[offset + i];
    if (newFormat) {
      const first = at(1);
      if (first === undefined) throw truncated(subject);
      if (first < 192) {
        headerLength = 2;
        bodyLength = first;
      } else if (first < 224) {
        const second = at(2);
        if (second === undefined) throw truncated(subject);
        headerLength = 3;
        bodyLength = ((first - 192) << 8) + second + 192;
      } else if (first === 255) {
        if (offset + 6 > bytes.length) throw truncated(subject);
        headerLength = 6;
        bodyLength = new DataView(bytes.buffer, bytes.byteOffset + offset + 2, 4).getUint32(0);
      } else {
        throw malformed(subject, 'partial-length packets are not used for signatures');
      }
    } else {
      const lengthType = tagByte & 0x03;
      if (lengthType === 3) {
        headerLength = 1;
        bodyLength = bytes.length - offset - 1;
      } else {
        const size = 1 << lengthType;
        if (offset + 1 + size > bytes.length) throw truncated(subject);
        headerLength = 1 + size;
        bodyLength = 0;
        for (let i = 0; i < size; i++) bodyLength = bodyLength * 256 + at(1 + i)!;
      }
    }
    if (tag !== 2) {
      throw malformed(
        subject,
        `expected a signature packet, found ${PACKET_NAMES[tag] ?? `packet type ${tag}`}`,
      );
    }
    if (offset + headerLength + bodyLength > bytes.length) throw truncated(subject);
    offset += headerLength + bodyLength;
  }
}

function truncated(subject: string): AuthError {
  return new AuthError(
    AuthErrorCodes.TRUNCATED_SIGNATURE,
    `the signature of ${subject} is truncated: a packet is longer than the data`,
    { hint: 'copy or download the whole signature again', details: { subject } },
  );
}
