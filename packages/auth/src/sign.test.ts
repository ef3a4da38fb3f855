import { parseManifest } from '@p2/manifest';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuthErrorCodes } from './errors.js';
import { Keyring } from './keyring.js';
import { KeyringDeployerPolicy } from './policy.js';
import { appendSignature, loadSecretKeys, signArtifact, signManifest } from './sign.js';
import { fixture, newKey, split } from './test-support.js';
import { verifySignature } from './verify.js';

const P2UNIVERSE = '6BB5F1D619EA715E36368B23B3A3F402DE19D5FA';

describe('signing helpers', () => {
  let p2universe: openpgp.PrivateKey;
  let keyring: Keyring;

  beforeAll(async () => {
    [p2universe] = (await loadSecretKeys(fixture('keys/p2universe-secring.gpg'))) as [
      openpgp.PrivateKey,
    ];
    keyring = await Keyring.fromBytes(fixture('keys/p2universe-pubring.gpg'));
  });

  it("loads P2's unprotected binary secring.gpg", () => {
    expect(p2universe.getFingerprint().toUpperCase()).toBe(P2UNIVERSE);
    expect(p2universe.isDecrypted()).toBe(true);
  });

  it('loads an armored secret key export', async () => {
    const [again] = await loadSecretKeys(p2universe.armor());
    expect(again?.getFingerprint().toUpperCase()).toBe(P2UNIVERSE);
  });

  it('refuses public keys and garbage with P2_AUTH_SECRET_KEY_INVALID', async () => {
    await expect(loadSecretKeys(fixture('keys/p2universe-pubring.gpg'))).rejects.toMatchObject({
      code: AuthErrorCodes.SECRET_KEY_INVALID,
    });
    await expect(loadSecretKeys('garbage', { source: '/p2t/key' })).rejects.toMatchObject({
      code: AuthErrorCodes.SECRET_KEY_INVALID,
      message: expect.stringContaining('/p2t/key'),
    });
  });

  it('signManifest output parses with @p2/manifest and passes the keyring policy', async () => {
    const text =
      'id: p2t-hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://h/hello_abc.tar.gz\n';
    const signed = await signManifest(text, p2universe);
    expect(signed.startsWith('-----BEGIN PGP SIGNED MESSAGE-----\nHash: ')).toBe(true);
    expect(signed).not.toContain('\r');
    const manifest = parseManifest(signed);
    expect(manifest.id).toBe('p2t-hello');
    expect(manifest.clearsigned?.yamlText).toBe(text);
    const result = await new KeyringDeployerPolicy({ keyring }).authorize(manifest);
    expect(result.signer?.fingerprint).toBe(P2UNIVERSE);
  });

  it('signManifest dash-escapes lines that start with a dash', async () => {
    const signed = await signManifest('id: p2t-x\n---\n- item\n', p2universe);
    expect(signed).toContain('\n- ---\n- - item\n');
    const parts = split(signed);
    expect(parts.yamlText).toBe('id: p2t-x\n---\n- item\n');
    await expect(
      verifySignature(parts.signedBytes, parts.signature, keyring),
    ).resolves.toBeDefined();
  });

  it('signArtifact: binary by default (a signature packet), armored on request', async () => {
    const data = new TextEncoder().encode('tarball');
    const binary = await signArtifact(data, p2universe);
    expect(binary[0]! & 0x80).toBe(0x80);
    const armored = new TextDecoder().decode(await signArtifact(data, p2universe, { armor: true }));
    expect(armored).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
    for (const sig of [binary, armored]) {
      await expect(verifySignature(data, sig, keyring)).resolves.toMatchObject({
        signer: { fingerprint: P2UNIVERSE },
      });
    }
  });

  it('signArtifact of a missing file → P2_AUTH_ARTIFACT_UNREADABLE', async () => {
    await expect(
      signArtifact({ path: '/nonexistent/p2t.tar.gz' }, p2universe),
    ).rejects.toMatchObject({ code: AuthErrorCodes.ARTIFACT_UNREADABLE });
  });

  it('appendSignature joins detached signatures; both signers verify', async () => {
    const other = await newKey('p2t-other');
    const data = new TextEncoder().encode('digest file');
    const joined = await appendSignature(
      await signArtifact(data, p2universe),
      await signArtifact(data, other.privateKey, { armor: true }),
    );
    const both = await Keyring.fromBytes(
      new TextEncoder().encode((await keyring.keys[0]!.armor()) + other.armoredPublic),
    );
    const { signers } = await verifySignature(data, joined, both);
    expect(signers.map((s) => s.fingerprint)).toEqual([
      P2UNIVERSE,
      other.publicKey.getFingerprint().toUpperCase(),
    ]);
  });

  it('signing with a key under minRSABits → P2_AUTH_SIGNING_FAILED naming the key', async () => {
    const { privateKey } = await openpgp.generateKey({
      type: 'rsa',
      rsaBits: 1024,
      userIDs: [{ email: 'p2t-weak@p2t.example' }],
      format: 'object',
      config: { minRSABits: 1024 },
    });
    const keyId = privateKey.getKeyID().toHex().toUpperCase();
    await expect(signManifest('id: p2t-x\n', privateKey)).rejects.toMatchObject({
      code: AuthErrorCodes.SIGNING_FAILED,
      message: expect.stringContaining(keyId),
    });
  });
});
