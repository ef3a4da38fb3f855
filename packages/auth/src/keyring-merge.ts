import { readFile, rename, writeFile } from 'node:fs/promises';
import type * as openpgp from 'openpgp';
import { Keyring, type KeyringOptions } from './keyring.js';

/** Keys to add: the bytes of a key file (armored or binary, public or secret) and its name. */
export interface KeysToAdd {
  bytes: Uint8Array | string;
  /** Where the keys came from, for messages (a file path). */
  source: string;
}

/** What {@link addKeysToKeyring} produced. */
export interface KeyringMerge {
  /** The new keyring file content: the old bytes followed by the added keys. Unchanged when nothing was added. */
  bytes: Uint8Array;
  /** True when keys were added (the file needs writing). */
  changed: boolean;
  /** The keys added, in order (public parts). */
  added: openpgp.PublicKey[];
  /** Upper-case fingerprints of keys that were already present (or given twice). */
  skipped: string[];
  /** The keyring `bytes` hold; undefined when they are empty. */
  keyring: Keyring | undefined;
}

/**
 * Adds public keys to a keyring file's content, as `p2 keyring add` does: keys already present (by
 * fingerprint) are skipped, secret keys contribute only their public parts, and the file keeps its
 * format — armored blocks are appended to an armored (or new, empty) keyring, binary packets to a
 * binary one (`pubring.gpg`). Existing bytes are never rewritten, only appended to.
 *
 * @param existing - the keyring file's current bytes, or undefined when there is no file yet
 * @throws AuthError `P2_AUTH_KEYRING_INVALID` when `existing` or a key file holds no readable key
 *
 * @example
 * ```ts
 * const merge = await addKeysToKeyring(await readFile('pubring.gpg'), [
 *   { bytes: await readFile('alice.asc'), source: 'alice.asc' },
 * ]);
 * if (merge.changed) await writeFile('pubring.gpg', merge.bytes);
 * ```
 */
export async function addKeysToKeyring(
  existing: Uint8Array | undefined,
  incoming: readonly KeysToAdd[],
  options: KeyringOptions = {},
): Promise<KeyringMerge> {
  const old = Buffer.from(existing ?? new Uint8Array());
  const current =
    old.length > 0
      ? await Keyring.fromBytes(old, options.source ? { source: options.source } : {})
      : undefined;
  const have = new Set(current?.fingerprints() ?? []);
  const armored = old.length === 0 || old.includes('-----BEGIN PGP');
  const added: openpgp.PublicKey[] = [];
  const skipped: string[] = [];
  const chunks: Buffer[] = [];
  for (const keys of incoming) {
    const keyring = await Keyring.fromBytes(keys.bytes, { source: keys.source });
    for (const key of keyring.keys) {
      const fingerprint = key.getFingerprint().toUpperCase();
      if (have.has(fingerprint)) {
        skipped.push(fingerprint);
        continue;
      }
      have.add(fingerprint);
      chunks.push(Buffer.from(armored ? `${key.armor().trimEnd()}\n` : key.write()));
      added.push(key);
    }
  }
  if (chunks.length === 0) return { bytes: old, changed: false, added, skipped, keyring: current };
  // An armored file that does not end in a newline gets one before the next block.
  if (armored && old.length > 0 && !old.toString('latin1').endsWith('\n'))
    chunks.unshift(Buffer.from('\n'));
  const bytes = Buffer.concat([old, ...chunks]);
  return {
    bytes,
    changed: true,
    added,
    skipped,
    keyring: await Keyring.fromBytes(bytes, options.source ? { source: options.source } : {}),
  };
}

/**
 * {@link addKeysToKeyring} on a keyring file: reads it (a missing file is a new, empty keyring) and,
 * when keys were added, replaces it atomically (a temporary file renamed over it, mode 0644).
 *
 * @throws AuthError `P2_AUTH_KEYRING_INVALID` as {@link addKeysToKeyring}; the file system's errors
 * @example
 * ```ts
 * const { added } = await addKeysToKeyringFile('/etc/p2/keyring.asc', [
 *   { bytes: await readFile('alice.asc'), source: 'alice.asc' },
 * ]);
 * ```
 */
export async function addKeysToKeyringFile(
  path: string,
  incoming: readonly KeysToAdd[],
  options: KeyringOptions = {},
): Promise<KeyringMerge> {
  const existing = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  const merge = await addKeysToKeyring(existing, incoming, options);
  if (merge.changed) {
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, merge.bytes, { mode: 0o644 });
    await rename(tmp, path);
  }
  return merge;
}
