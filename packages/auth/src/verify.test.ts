import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuthError, AuthErrorCodes } from './errors.js';
import { Keyring } from './keyring.js';
import { signArtifact, signManifest } from './sign.js';
import { fixture, newKey, split } from './test-support.js';
import { verifyClearsigned, verifySignature } from './verify.js';

const MANIFEST =
  'id: p2t-hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://h/a.tar.gz\n';

async function rejection(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthError);
  return error as AuthError;
}

describe('P2 fixture signatures (made in 2016 by a key that expired in 2017)', () => {
  let keyring: Keyring;
  beforeAll(async () => {
    keyring = await Keyring.fromBytes(fixture('keys/artifact-builder-public.key'));
  });

  it.each([
    ['armored', 'signatures/hello-server.tar.gz.manifest.sig'],
    ['binary', 'signatures/hello-server.tar.gz.manifest.sig.raw'],
  ])('the %s detached signature over the build manifest verifies', async (_kind, sigPath) => {
    const { signer, signers } = await verifySignature(
      fixture('signatures/hello-server.tar.gz.manifest'),
      fixture(sigPath),
      keyring,
    );
    expect(signer.fingerprint).toBe('C8D49DFED934CAC923CA417E079E5B0BE07F19DE');
    expect(signer.keyId).toBe('079E5B0BE07F19DE');
    expect(signer.emails).toEqual(['abishopric@squareup.com']);
    expect(signer.created.getUTCFullYear()).toBe(2016);
    expect(signers).toHaveLength(1);
  });

  it('one changed byte of the build manifest is refused as a mismatch naming the key', async () => {
    const tampered = Buffer.from(fixture('signatures/hello-server.tar.gz.manifest'));
    tampered[20] = tampered[20] === 0x61 ? 0x62 : 0x61;
    const error = await rejection(
      verifySignature(
        tampered,
        fixture('signatures/hello-server.tar.gz.manifest.sig.raw'),
        keyring,
      ),
    );
    expect(error.code).toBe(AuthErrorCodes.SIGNATURE_MISMATCH);
    expect(error.message).toContain('079E5B0BE07F19DE');
    expect(error.details.fingerprint).toBe('C8D49DFED934CAC923CA417E079E5B0BE07F19DE');
  });
});

describe('bad input: one rule per test, each with its own code', () => {
  let alice: Awaited<ReturnType<typeof newKey>>;
  let mallory: Awaited<ReturnType<typeof newKey>>;
  let keyring: Keyring;
  let signed: string;

  beforeAll(async () => {
    alice = await newKey('p2t-alice');
    mallory = await newKey('p2t-mallory');
    keyring = await Keyring.fromBytes(alice.armoredPublic, { source: 'test-keyring' });
    signed = await signManifest(MANIFEST, alice.privateKey);
  });

  it('accepts the untouched clearsigned manifest and names the signer by fingerprint', async () => {
    const parts = split(signed);
    const { signer } = await verifyClearsigned(parts, keyring);
    expect(signer.fingerprint).toBe(alice.publicKey.getFingerprint().toUpperCase());
    expect(signer.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect(signer.emails).toEqual(['p2t-alice@p2t.example']);
  });

  it('tampered text → P2_AUTH_SIGNATURE_MISMATCH', async () => {
    const parts = split(
      signed.replace('location: https://h/a.tar.gz', 'location: https://evil/a.tar.gz'),
    );
    const error = await rejection(
      verifyClearsigned(parts, keyring, { subject: 'manifest p2t-hello' }),
    );
    expect(error.code).toBe(AuthErrorCodes.SIGNATURE_MISMATCH);
    expect(error.message).toContain(alice.publicKey.getKeyID().toHex().toUpperCase());
    expect(error.message).toContain('manifest p2t-hello');
  });

  it('a valid signature over a different manifest → P2_AUTH_SIGNATURE_MISMATCH', async () => {
    const other = split(await signManifest('id: p2t-other\n', alice.privateKey));
    const mine = split(signed);
    const error = await rejection(
      verifyClearsigned({ signedBytes: mine.signedBytes, signature: other.signature }, keyring),
    );
    expect(error.code).toBe(AuthErrorCodes.SIGNATURE_MISMATCH);
    expect(error.details.keyId).toBe(alice.publicKey.getKeyID().toHex().toUpperCase());
  });

  it('wrong key (signature names a keyring key but another key made it) → P2_AUTH_KEY_MISMATCH', async () => {
    const data = new TextEncoder().encode('artifact bytes');
    const sig = await openpgp.readSignature({
      binarySignature: await signArtifact(data, mallory.privateKey),
    });
    const packet = sig.packets[0]!;
    // Forge the unhashed issuer key id (subpacket 16): claim Alice made it. The hashed data, and so
    // the digest prefix, stay valid; only the public-key check can catch this.
    (packet as unknown as { unhashedSubpackets: unknown[] }).unhashedSubpackets = [
      { type: 16, critical: false, body: Buffer.from(alice.publicKey.getKeyID().toHex(), 'hex') },
    ];
    const forged = packet.write();
    const error = await rejection(verifySignature(data, wrap(forged), keyring));
    expect(error.code).toBe(AuthErrorCodes.KEY_MISMATCH);
    expect(error.message).toContain(alice.publicKey.getKeyID().toHex().toUpperCase());
  });

  it('unknown signer → P2_AUTH_UNKNOWN_SIGNER naming the 64-bit key id in upper-case hex', async () => {
    const parts = split(await signManifest(MANIFEST, mallory.privateKey));
    const error = await rejection(verifyClearsigned(parts, keyring));
    const keyId = mallory.publicKey.getKeyID().toHex().toUpperCase();
    expect(error.code).toBe(AuthErrorCodes.UNKNOWN_SIGNER);
    expect(error.message).toContain(`unknown signer: ${keyId}`);
    expect(error.details.keyId).toBe(keyId);
  });

  it('truncated armor (no END line) → P2_AUTH_TRUNCATED_SIGNATURE', async () => {
    const armored = new TextDecoder().decode(
      await signArtifact(new Uint8Array([1, 2, 3]), alice.privateKey, { armor: true }),
    );
    const cut = armored.slice(0, armored.indexOf('-----END'));
    const error = await rejection(verifySignature(new Uint8Array([1, 2, 3]), cut, keyring));
    expect(error.code).toBe(AuthErrorCodes.TRUNCATED_SIGNATURE);
  });

  it('truncated armor body (lines lost, END kept) → P2_AUTH_TRUNCATED_SIGNATURE', async () => {
    const armored = new TextDecoder().decode(
      await signArtifact(new Uint8Array([1, 2, 3]), alice.privateKey, { armor: true }),
    );
    const lines = armored.split('\n');
    const end = lines.findIndex((l) => l.startsWith('-----END'));
    const cut = [...lines.slice(0, 3), ...lines.slice(end)].join('\n');
    const error = await rejection(verifySignature(new Uint8Array([1, 2, 3]), cut, keyring));
    expect(error.code).toBe(AuthErrorCodes.TRUNCATED_SIGNATURE);
  });

  it('truncated binary signature → P2_AUTH_TRUNCATED_SIGNATURE', async () => {
    const sig = await signArtifact(new Uint8Array([1, 2, 3]), alice.privateKey);
    const error = await rejection(
      verifySignature(new Uint8Array([1, 2, 3]), sig.subarray(0, sig.length - 10), keyring),
    );
    expect(error.code).toBe(AuthErrorCodes.TRUNCATED_SIGNATURE);
  });

  it('garbage → P2_AUTH_MALFORMED_SIGNATURE', async () => {
    const error = await rejection(
      verifySignature(
        new Uint8Array([1]),
        new TextEncoder().encode('hello, I am a signature'),
        keyring,
      ),
    );
    expect(error.code).toBe(AuthErrorCodes.MALFORMED_SIGNATURE);
    expect(error.hint).toContain('gpg');
  });

  it('a public key handed over as a signature → P2_AUTH_MALFORMED_SIGNATURE saying what it found', async () => {
    const error = await rejection(
      verifySignature(new Uint8Array([1]), alice.publicKey.write(), keyring),
    );
    expect(error.code).toBe(AuthErrorCodes.MALFORMED_SIGNATURE);
    expect(error.message).toContain('found a public key');
  });

  it('an empty signature → P2_AUTH_MALFORMED_SIGNATURE', async () => {
    const error = await rejection(verifySignature(new Uint8Array([1]), new Uint8Array(), keyring));
    expect(error.code).toBe(AuthErrorCodes.MALFORMED_SIGNATURE);
  });

  it('a signature dated in the future (beyond `date`) → P2_AUTH_SIGNATURE_INVALID', async () => {
    const data = new Uint8Array([9]);
    const sig = await signArtifact(data, alice.privateKey);
    const error = await rejection(
      verifySignature(data, sig, keyring, { date: new Date(Date.now() - 86_400_000) }),
    );
    expect(error.code).toBe(AuthErrorCodes.SIGNATURE_INVALID);
  });

  it('tolerates a signer clock up to clockSkewSeconds ahead (default 5 minutes)', async () => {
    const data = new Uint8Array([4, 2]);
    const sig = await signArtifact(data, alice.privateKey, {
      date: new Date(Date.now() + 120_000),
    });
    await expect(verifySignature(data, sig, keyring)).resolves.toBeDefined();
    await expect(
      verifySignature(data, sig, keyring, { clockSkewSeconds: 0 }),
    ).rejects.toMatchObject({
      code: AuthErrorCodes.SIGNATURE_INVALID,
      message: expect.stringContaining('future'),
    });
  });

  it('co-signature by an unknown key is ignored when a keyring key signed too', async () => {
    const both = await signManifest(MANIFEST, [alice.privateKey, mallory.privateKey]);
    const { signers } = await verifyClearsigned(split(both), keyring);
    expect(signers.map((s) => s.emails[0])).toEqual(['p2t-alice@p2t.example']);
  });
});

describe('streamed files', () => {
  it('verifies a file without reading it into memory, and refuses it once a byte changes', async () => {
    const dir = await mkdtemp(`${tmpdir()}/p2t-auth-stream-`);
    try {
      const alice = await newKey('p2t-alice');
      const keyring = await Keyring.fromBytes(alice.armoredPublic);
      const bytes = Buffer.alloc(3_000_000, 1);
      const path = `${dir}/big.tar.gz`;
      await writeFile(path, bytes);
      const sig = await signArtifact(bytes, alice.privateKey);
      await expect(verifySignature({ path }, sig, keyring)).resolves.toBeDefined();
      bytes[2_999_999] = 2;
      await writeFile(path, bytes);
      await expect(verifySignature({ path }, sig, keyring)).rejects.toMatchObject({
        code: AuthErrorCodes.SIGNATURE_MISMATCH,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('key size (openpgp.js refuses RSA < 2047 bits unless minRSABits is lowered)', () => {
  it('RSA-1024 is P2_AUTH_WEAK_KEY by default and verifies with minRSABits: 1024', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'rsa',
      rsaBits: 1024,
      userIDs: [{ name: 'Test One', email: 'test1@testing' }],
      format: 'object',
      config: { minRSABits: 1024 },
    });
    const keyring = await Keyring.fromBytes(publicKey.armor());
    const data = new Uint8Array([7, 7, 7]);
    const sig = await signArtifact(data, privateKey, { minRSABits: 1024 });
    const error = await rejection(verifySignature(data, sig, keyring));
    expect(error.code).toBe(AuthErrorCodes.WEAK_KEY);
    expect(error.hint).toContain('minRSABits');
    const { signer } = await verifySignature(data, sig, keyring, { minRSABits: 1024 });
    expect(signer.emails).toEqual(['test1@testing']);
  });
});

function wrap(packetBody: Uint8Array): Uint8Array {
  // new-format signature packet header (tag 2) around a raw packet body
  const len = packetBody.length;
  const header = len < 192 ? [0xc2, len] : [0xc2, ((len - 192) >> 8) + 192, (len - 192) & 0xff];
  return new Uint8Array([...header, ...packetBody]);
}
