import { readFile } from 'node:fs/promises';
import type * as openpgp from 'openpgp';
import type { Logger } from 'pino';
import { AuthError, AuthErrorCodes } from './errors.js';
import { loadOpenpgp } from './openpgp.js';
import { ReloadingFile } from './reloading.js';
import { describeCause, silentLogger } from './util.js';

/** Options shared by everything that reads keys. */
export interface KeyringOptions {
  /** Where the keys came from, for messages (a file path). @default '<inline keyring>' */
  source?: string;
}

/**
 * An in-memory set of OpenPGP public keys, as P2 read them from `pubring.gpg` or an armored export.
 *
 * @example
 * ```ts
 * const keyring = await Keyring.fromFile('/etc/p2/pubring.gpg');
 * keyring.fingerprints(); // ['6BB5F1D619EA715E36368B23B3A3F402DE19D5FA']
 * ```
 */
export class Keyring implements KeyringSource {
  /** The keys, public parts only. */
  readonly keys: readonly openpgp.PublicKey[];
  /** Where the keys came from (file path or `<inline keyring>`). */
  readonly source: string;

  private constructor(keys: openpgp.PublicKey[], source: string) {
    this.keys = keys;
    this.source = source;
  }

  /**
   * Reads keys from armored text (one or more `BEGIN PGP PUBLIC KEY BLOCK` sections) or from a
   * binary keyring (GnuPG 1 `pubring.gpg`, `gpg --export` output). Armor is tried first and binary
   * is the fallback, as in P2. Secret keys are accepted and reduced to their public parts.
   *
   * @throws AuthError `P2_AUTH_KEYRING_INVALID` when no key can be read.
   * @example
   * ```ts
   * const keyring = await Keyring.fromBytes(readFileSync('keys.asc'));
   * ```
   */
  static async fromBytes(
    input: Uint8Array | string,
    options: KeyringOptions = {},
  ): Promise<Keyring> {
    const source = options.source ?? '<inline keyring>';
    const keys = await readPublicKeys(input, source);
    return new Keyring(keys, source);
  }

  /**
   * Reads a keyring file (armored or binary).
   *
   * @throws AuthError `P2_AUTH_KEYRING_INVALID` when the file is missing, unreadable or holds no key.
   * @example
   * ```ts
   * const keyring = await Keyring.fromFile('/etc/p2/pubring.gpg');
   * ```
   */
  static async fromFile(path: string): Promise<Keyring> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw new AuthError(
        AuthErrorCodes.KEYRING_INVALID,
        `cannot read keyring ${path}: ${describeCause(cause)}`,
        {
          cause,
          hint: 'check the keyring path in the auth configuration',
          details: { path },
        },
      );
    }
    return Keyring.fromBytes(bytes, { source: path });
  }

  /** Number of primary keys. */
  get size(): number {
    return this.keys.length;
  }

  /** Upper-case 40-hex fingerprints of the primary keys. */
  fingerprints(): string[] {
    return this.keys.map((key) => key.getFingerprint().toUpperCase());
  }

  /**
   * The primary key that owns `keyId` (a primary key or one of its subkeys), if any.
   * @param keyId 16 hex digits (any case) or an openpgp `KeyID`.
   */
  findByKeyId(keyId: string | openpgp.KeyID): openpgp.PublicKey | undefined {
    const hex = (typeof keyId === 'string' ? keyId : keyId.toHex()).toLowerCase().padStart(16, '0');
    return this.keys.find((key) => key.getKeys().some((k) => k.getKeyID().toHex() === hex));
  }

  /** The primary key with this fingerprint (40 hex digits, any case), if any. */
  findByFingerprint(fingerprint: string): openpgp.PublicKey | undefined {
    const wanted = fingerprint.replace(/\s+/g, '').toLowerCase();
    return this.keys.find((key) => key.getFingerprint() === wanted);
  }

  /** A keyring is its own current version. */
  async current(): Promise<Keyring> {
    return this;
  }
}

/** Anything that can hand out the keyring to use right now: a {@link Keyring} or a {@link KeyringFile}. */
export interface KeyringSource {
  current(): Promise<Keyring>;
}

/** Options of {@link KeyringFile.open}. */
export interface KeyringFileOptions {
  /** Receives a warning when a reload fails (the previous keyring stays in use). @default silent */
  logger?: Logger;
}

/**
 * A keyring file that is re-read whenever its mtime changes, as P2's preparer did. A failed reload
 * (file half-written, deleted) logs a warning and keeps the previous keyring.
 *
 * @example
 * ```ts
 * const keyring = await KeyringFile.open('/etc/p2/pubring.gpg');
 * const current = await keyring.current(); // re-reads only when the file changed
 * ```
 */
export class KeyringFile implements KeyringSource {
  private constructor(private readonly file: ReloadingFile<Keyring>) {}

  /**
   * Loads the file once; later {@link current} calls reload it when its mtime changed.
   * @throws AuthError `P2_AUTH_KEYRING_INVALID` when the first load fails.
   */
  static async open(path: string, options: KeyringFileOptions = {}): Promise<KeyringFile> {
    const file = await ReloadingFile.open(
      path,
      (p) => Keyring.fromFile(p),
      options.logger ?? silentLogger,
      'keyring',
    );
    return new KeyringFile(file);
  }

  /** The file's path. */
  get path(): string {
    return this.file.path;
  }

  /** The keyring, reloaded first if the file's mtime changed since the last load. */
  current(): Promise<Keyring> {
    return this.file.current();
  }
}

const ARMOR_BEGIN =
  /-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g;

async function readPublicKeys(
  input: Uint8Array | string,
  source: string,
): Promise<openpgp.PublicKey[]> {
  const pgp = await loadOpenpgp();
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  const text = typeof input === 'string' ? input : new TextDecoder('latin1').decode(input);
  const problems: string[] = [];
  if (text.includes('-----BEGIN PGP')) {
    const blocks = text.match(ARMOR_BEGIN) ?? [];
    try {
      const keys: openpgp.PublicKey[] = [];
      for (const block of blocks) {
        const read = await pgp.readKeys({ armoredKeys: block });
        keys.push(...read.map((key) => (key.isPrivate() ? key.toPublic() : key)));
      }
      if (keys.length > 0) return keys;
      problems.push('armor found but it holds no complete key block');
    } catch (cause) {
      problems.push(`armored: ${describeCause(cause)}`);
    }
  }
  if (bytes.length >= 12 && new TextDecoder('latin1').decode(bytes.subarray(8, 12)) === 'KBXf') {
    throw new AuthError(
      AuthErrorCodes.KEYRING_INVALID,
      `keyring ${source} is a GnuPG 2 keybox (pubring.kbx), which is not an OpenPGP keyring`,
      {
        hint: 'export the keys with `gpg --export > pubring.gpg` (binary) or `gpg --armor --export`',
        details: { source },
      },
    );
  }
  try {
    const keys = await pgp.readKeys({ binaryKeys: bytes });
    if (keys.length > 0) return keys.map((key) => (key.isPrivate() ? key.toPublic() : key));
    problems.push('binary: no key found');
  } catch (cause) {
    problems.push(`binary: ${describeCause(cause)}`);
  }
  throw new AuthError(
    AuthErrorCodes.KEYRING_INVALID,
    `keyring ${source} holds no readable OpenPGP public key (${problems.join('; ')})`,
    {
      hint: 'expected `gpg --export` output (binary pubring.gpg) or `gpg --armor --export` text',
      details: { source, problems },
    },
  );
}

/** @internal The e-mail addresses and user ids of a key whose self-certification verifies at `date`. */
export async function verifiedIdentities(
  key: openpgp.PublicKey,
  date: Date,
  config: Partial<openpgp.Config>,
): Promise<{ userIds: string[]; emails: string[] }> {
  const pgp = await loadOpenpgp();
  const userIds: string[] = [];
  const emails: string[] = [];
  for (const user of key.users) {
    if (!user.userID) continue;
    try {
      await user.verify(date, { ...pgp.config, ...config });
    } catch {
      continue; // an identity without a valid self-signature proves nothing about the signer
    }
    userIds.push(user.userID.userID);
    if (user.userID.email) emails.push(user.userID.email);
  }
  return { userIds, emails };
}
