import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthErrorCodes } from './errors.js';
import { Keyring, KeyringFile } from './keyring.js';
import { fixture, fixtures, newKey } from './test-support.js';

const P2UNIVERSE = '6BB5F1D619EA715E36368B23B3A3F402DE19D5FA';

describe('Keyring', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2t-auth-keyring-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads P2's binary GnuPG 1 pubring.gpg", async () => {
    const keyring = await Keyring.fromFile(`${fixtures}keys/p2universe-pubring.gpg`);
    expect(keyring.fingerprints()).toEqual([P2UNIVERSE]);
    expect(keyring.source).toBe(`${fixtures}keys/p2universe-pubring.gpg`);
    // a subkey id resolves to its primary key
    expect(keyring.findByKeyId('A6E3C677FD4C38A4')?.getFingerprint().toUpperCase()).toBe(
      P2UNIVERSE,
    );
    expect(keyring.findByKeyId('b3a3f402de19d5fa')).toBeDefined();
    expect(
      keyring.findByFingerprint('6bb5 f1d6 19ea 715e 3636 8b23 b3a3 f402 de19 d5fa'),
    ).toBeDefined();
  });

  it('reads the binary artifact-builder key file with two (expired) keys', async () => {
    const keyring = await Keyring.fromBytes(fixture('keys/artifact-builder-public.key'));
    expect(keyring.fingerprints()).toEqual([
      'D1CE8B0C7BABF28C1CA67D5A365EAB9E994AC473',
      'C8D49DFED934CAC923CA417E079E5B0BE07F19DE',
    ]);
  });

  it('reads a secret keyring as its public keys', async () => {
    const keyring = await Keyring.fromBytes(fixture('keys/p2universe-secring.gpg'));
    expect(keyring.fingerprints()).toEqual([P2UNIVERSE]);
    expect(keyring.keys[0]!.isPrivate()).toBe(false);
  });

  it('reads armored text with several key blocks and surrounding prose', async () => {
    const a = await newKey('p2t-a');
    const b = await newKey('p2t-b');
    const text = `operators:\n${a.armoredPublic}\nand\n${b.armoredPublic}\n`;
    const keyring = await Keyring.fromBytes(text);
    expect(keyring.size).toBe(2);
  });

  it('tries armor first, then binary: an armored export of the P2 key equals the binary one', async () => {
    const [key] = await openpgp.readKeys({ binaryKeys: fixture('keys/p2universe-pubring.gpg') });
    const keyring = await Keyring.fromBytes(key!.armor());
    expect(keyring.fingerprints()).toEqual([P2UNIVERSE]);
  });

  it('refuses garbage with P2_AUTH_KEYRING_INVALID naming the source', async () => {
    const error = await Keyring.fromBytes('not a key', { source: '/etc/p2t/keys' }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: AuthErrorCodes.KEYRING_INVALID });
    expect((error as Error).message).toContain('/etc/p2t/keys');
  });

  it('recognises a GnuPG 2 keybox and says how to export a keyring', async () => {
    const kbx = new Uint8Array(32);
    kbx.set(new TextEncoder().encode('KBXf'), 8);
    const error = await Keyring.fromBytes(kbx).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: AuthErrorCodes.KEYRING_INVALID });
    expect((error as { hint: string }).hint).toContain('gpg --export');
  });

  it('reports a missing file with P2_AUTH_KEYRING_INVALID', async () => {
    await expect(Keyring.fromFile(join(dir, 'nope.gpg'))).rejects.toMatchObject({
      code: AuthErrorCodes.KEYRING_INVALID,
      details: { path: join(dir, 'nope.gpg') },
    });
  });

  it('KeyringFile re-reads the file when its mtime changes and keeps the old keyring when a reload fails', async () => {
    const a = await newKey('p2t-a');
    const b = await newKey('p2t-b');
    const path = join(dir, 'reload.asc');
    await writeFile(path, a.armoredPublic);
    await utimes(path, 1000, 1000);
    const file = await KeyringFile.open(path);
    const first = await file.current();
    expect(first.size).toBe(1);
    expect(await file.current()).toBe(first); // unchanged file: no re-read

    await writeFile(path, a.armoredPublic + b.armoredPublic);
    await utimes(path, 2000, 2000);
    const second = await file.current();
    expect(second.size).toBe(2);

    await writeFile(path, 'half-written garbage');
    await utimes(path, 3000, 3000);
    expect(await file.current()).toBe(second);

    await writeFile(path, b.armoredPublic);
    await utimes(path, 4000, 4000);
    expect((await file.current()).fingerprints()).toEqual([
      b.publicKey.getFingerprint().toUpperCase(),
    ]);
  });
});
