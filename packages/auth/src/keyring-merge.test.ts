import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthErrorCodes } from './errors.js';
import { addKeysToKeyring, addKeysToKeyringFile } from './keyring-merge.js';
import { fixture, newKey } from './test-support.js';

const P2UNIVERSE = '6BB5F1D619EA715E36368B23B3A3F402DE19D5FA';

describe('addKeysToKeyring', () => {
  it('starts an armored keyring, skips keys already present, takes public parts of secret keys', async () => {
    const alice = await newKey('alice');
    const bob = await newKey('bob');
    const first = await addKeysToKeyring(undefined, [
      { bytes: alice.armoredPublic, source: 'alice.asc' },
      { bytes: bob.privateKey.armor(), source: 'bob-secret.asc' },
    ]);
    expect(first.changed).toBe(true);
    const text = Buffer.from(first.bytes).toString('utf8');
    expect(text.match(/BEGIN PGP PUBLIC KEY BLOCK/g)).toHaveLength(2);
    expect(text).not.toContain('PRIVATE KEY');
    expect(first.added.map((k) => k.getFingerprint().toUpperCase())).toEqual(
      first.keyring?.fingerprints(),
    );

    const again = await addKeysToKeyring(first.bytes, [
      { bytes: alice.armoredPublic, source: 'alice.asc' },
    ]);
    expect(again).toMatchObject({ changed: false, added: [] });
    expect(again.skipped).toEqual([alice.publicKey.getFingerprint().toUpperCase()]);
    expect(again.bytes).toEqual(Buffer.from(first.bytes));
    expect(again.keyring?.size).toBe(2);
  });

  it('appends binary packets to a binary pubring.gpg, keeping its bytes', async () => {
    const pubring = fixture('keys/p2universe-pubring.gpg');
    const carol = await newKey('carol');
    const merge = await addKeysToKeyring(pubring, [{ bytes: carol.armoredPublic, source: 'c' }]);
    expect(Buffer.from(merge.bytes).subarray(0, pubring.length)).toEqual(pubring);
    expect(Buffer.from(merge.bytes).includes('-----BEGIN PGP')).toBe(false);
    expect(merge.keyring?.fingerprints()).toEqual([
      P2UNIVERSE,
      carol.publicKey.getFingerprint().toUpperCase(),
    ]);
  });

  it('adds a newline before appending to an armored file that lacks one', async () => {
    const dave = await newKey('dave');
    const erin = await newKey('erin');
    const merge = await addKeysToKeyring(Buffer.from(dave.armoredPublic.trimEnd()), [
      { bytes: erin.armoredPublic, source: 'erin.asc' },
    ]);
    expect(Buffer.from(merge.bytes).toString()).toContain(
      '-----END PGP PUBLIC KEY BLOCK-----\n-----BEGIN PGP PUBLIC KEY BLOCK-----',
    );
    expect(merge.keyring?.size).toBe(2);
  });

  it('refuses a key file without keys (P2_AUTH_KEYRING_INVALID)', async () => {
    await expect(
      addKeysToKeyring(undefined, [{ bytes: 'not a key', source: 'junk.txt' }]),
    ).rejects.toMatchObject({ code: AuthErrorCodes.KEYRING_INVALID });
  });
});

describe('addKeysToKeyringFile', () => {
  it('creates a missing keyring file (mode 0644), then leaves it alone when nothing is new', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2t-keyring-'));
    try {
      const path = join(dir, 'keyring.asc');
      const alice = await newKey('alice');
      const keys = [{ bytes: alice.armoredPublic, source: 'alice.asc' }];
      const first = await addKeysToKeyringFile(path, keys);
      expect(first.changed).toBe(true);
      expect(Buffer.from(await readFile(path))).toEqual(Buffer.from(first.bytes));
      expect((await stat(path)).mode & 0o777).toBe(0o644);
      const again = await addKeysToKeyringFile(path, keys);
      expect(again.changed).toBe(false);
      expect(again.skipped).toEqual([alice.publicKey.getFingerprint().toUpperCase()]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
