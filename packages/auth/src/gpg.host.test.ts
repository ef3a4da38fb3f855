/**
 * Interop with the real `gpg` binary (Debian `gnupg`). Every test gets a fresh GNUPGHOME that is
 * removed afterwards, even when the test fails.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseManifest } from '@p2/manifest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeployerPolicy } from './config.js';
import { AuthErrorCodes } from './errors.js';
import { Keyring } from './keyring.js';
import { KeyringDeployerPolicy } from './policy.js';
import { loadSecretKeyFile, loadSecretKeys, signArtifact, signManifest } from './sign.js';
import { fixtures, split } from './test-support.js';
import { verifyClearsigned, verifySignature } from './verify.js';

const run = promisify(execFile);
const P2UNIVERSE = '6BB5F1D619EA715E36368B23B3A3F402DE19D5FA';
const MANIFEST = [
  'id: p2t-hello',
  'launchables:',
  '  app:',
  '    launchable_type: hoist',
  '    location: https://artifacts.example/hello_abc.tar.gz',
  'config:',
  '  note: "- a line gpg must dash-escape follows"',
  '- not yaml, but the signature does not care',
  'trailing: spaces   ',
  '',
].join('\n');

const VALID_MANIFEST = [
  'id: p2t-hello',
  'run_as: p2t-hello',
  'launchables:',
  '  app:',
  '    launchable_type: hoist',
  '    location: https://artifacts.example/hello_abc.tar.gz',
  '',
].join('\n');

let home: string;

async function gpg(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('gpg', ['--batch', '--yes', '--no-tty', '--homedir', home, ...args], {
    env: { ...process.env, GNUPGHOME: home },
    encoding: 'utf8',
  });
}

/** `gpg --verify` status lines; throws when gpg exits non-zero. */
async function gpgVerify(...args: string[]): Promise<string> {
  const { stdout } = await gpg('--status-fd', '1', '--verify', ...args);
  return stdout;
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'p2t-gnupg-'));
});
afterEach(async () => {
  await run('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
  await rm(home, { recursive: true, force: true });
});

describe('gpg → @p2/auth', () => {
  it('a manifest clear-signed by gpg with the P2 fixture key verifies, signer = full fingerprint', async () => {
    await gpg('--import', `${fixtures}keys/p2universe-secring.gpg`);
    await writeFile(join(home, 'm.yaml'), MANIFEST);
    await gpg(
      '--clearsign',
      '-u',
      'p2universe',
      '--output',
      join(home, 'm.yaml.asc'),
      join(home, 'm.yaml'),
    );
    const signed = await readFile(join(home, 'm.yaml.asc'), 'utf8');
    expect(signed).toContain('- - not yaml'); // gpg dash-escaped it
    const keyring = await Keyring.fromFile(`${fixtures}keys/p2universe-pubring.gpg`);
    const parts = split(signed);
    expect(parts.yamlText).toContain('\n- not yaml');
    const { signer } = await verifyClearsigned(parts, keyring);
    expect(signer.fingerprint).toBe(P2UNIVERSE);
    expect(signer.emails).toEqual(['deploy-dev@squareup.com']);

    const tampered = split(signed.replace('hello_abc', 'hello_evil'));
    await expect(verifyClearsigned(tampered, keyring)).rejects.toMatchObject({
      code: AuthErrorCodes.SIGNATURE_MISMATCH,
      message: expect.stringContaining('B3A3F402DE19D5FA'),
    });
  });

  it('the preparer path: gpg-signed manifest → parseManifest → keyring policy from pubring.gpg', async () => {
    await gpg('--import', `${fixtures}keys/p2universe-secring.gpg`);
    await writeFile(join(home, 'm.yaml'), VALID_MANIFEST);
    await gpg(
      '--clearsign',
      '-u',
      'p2universe',
      '--output',
      join(home, 'm.asc'),
      join(home, 'm.yaml'),
    );
    const manifest = parseManifest(await readFile(join(home, 'm.asc')));
    expect(manifest.id).toBe('p2t-hello');
    const policy = await createDeployerPolicy({
      type: 'keyring',
      keyring: `${fixtures}keys/p2universe-pubring.gpg`,
      authorizedDeployers: [P2UNIVERSE],
    });
    await expect(policy.authorize(manifest)).resolves.toMatchObject({
      policy: 'keyring',
      signer: { fingerprint: P2UNIVERSE },
    });
  });

  it('binary and armored `gpg --detach-sign` signatures over an artifact verify', async () => {
    await gpg('--import', `${fixtures}keys/p2universe-secring.gpg`);
    const artifact = join(home, 'p2t-app.tar.gz');
    await writeFile(artifact, Buffer.alloc(50_000, 7));
    await gpg('--detach-sign', '-u', 'p2universe', '--output', `${artifact}.sig`, artifact);
    await gpg(
      '--detach-sign',
      '--armor',
      '-u',
      'p2universe',
      '--output',
      `${artifact}.asc`,
      artifact,
    );
    const keyring = await Keyring.fromFile(`${fixtures}keys/p2universe-pubring.gpg`);
    const bytes = await readFile(artifact);
    for (const sig of ['.sig', '.asc']) {
      const { signer } = await verifySignature(bytes, await readFile(artifact + sig), keyring);
      expect(signer.fingerprint).toBe(P2UNIVERSE);
    }
  });

  it('SHA-1 signatures (gpg 1.x default) → P2_AUTH_WEAK_HASH, accepted with allowSha1', async () => {
    await gpg('--import', `${fixtures}keys/p2universe-secring.gpg`);
    await writeFile(join(home, 'm.yaml'), VALID_MANIFEST);
    await gpg(
      '--digest-algo',
      'SHA1',
      '--clearsign',
      '-u',
      'p2universe',
      '--output',
      join(home, 'm.asc'),
      join(home, 'm.yaml'),
    );
    const manifest = parseManifest(await readFile(join(home, 'm.asc')));
    expect(manifest.clearsigned?.hashHeaders).toEqual(['SHA1']);
    const keyring = await Keyring.fromFile(`${fixtures}keys/p2universe-pubring.gpg`);
    const error = await verifyClearsigned(manifest.clearsigned!, keyring).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: AuthErrorCodes.WEAK_HASH,
      message: expect.stringContaining('B3A3F402DE19D5FA'),
    });
    await expect(
      verifyClearsigned(manifest.clearsigned!, keyring, { allowSha1: true }),
    ).resolves.toMatchObject({ signer: { fingerprint: P2UNIVERSE } });
  });

  it('`gpg --clearsign -u A -u B` carries two signers, enough for an M-of-N pod', async () => {
    await gpg('--import', `${fixtures}keys/p2universe-secring.gpg`);
    await gpg(
      '--passphrase',
      '',
      '--quick-gen-key',
      'p2t second <p2t-second@p2t.example>',
      'ed25519',
      'sign',
      'never',
    );
    await writeFile(join(home, 'm.yaml'), 'id: p2t-critical\nlaunchables: {}\n');
    await gpg(
      '--clearsign',
      '-u',
      'p2universe',
      '-u',
      'p2t-second@p2t.example',
      '--output',
      join(home, 'm.asc'),
      join(home, 'm.yaml'),
    );
    const { stdout: exported } = await gpg('--armor', '--export');
    const policy = new KeyringDeployerPolicy({
      keyring: await Keyring.fromBytes(exported),
      multiSignature: { 'p2t-critical': { required: 2 } },
    });
    const clearsigned = split(await readFile(join(home, 'm.asc'), 'utf8'));
    const result = await policy.authorize({
      id: 'p2t-critical',
      runAs: 'p2t-critical',
      clearsigned,
    });
    expect(result.signers.map((s) => s.emails[0]).sort()).toEqual([
      'deploy-dev@squareup.com',
      'p2t-second@p2t.example',
    ]);
  });

  it('a signature by a signing subkey names the primary key fingerprint as signer', async () => {
    await gpg(
      '--passphrase',
      '',
      '--quick-gen-key',
      'p2t sub <p2t-sub@p2t.example>',
      'ed25519',
      'cert',
      'never',
    );
    const { stdout: listing } = await gpg('--with-colons', '--list-keys', 'p2t-sub@p2t.example');
    const primary = /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!;
    await gpg('--passphrase', '', '--quick-add-key', primary, 'ed25519', 'sign', 'never');
    const { stdout: withSub } = await gpg('--with-colons', '--list-keys', primary);
    const subkeyId = /^sub:[^:]*:\d+:\d+:([0-9A-F]{16}):/m.exec(withSub)![1]!;
    const data = join(home, 'data.bin');
    await writeFile(data, 'signed by a subkey');
    await gpg('--detach-sign', '-u', `${subkeyId}!`, '--output', `${data}.sig`, data);
    const { stdout: exported } = await gpg('--armor', '--export', primary);
    const { signer } = await verifySignature(
      await readFile(data),
      await readFile(`${data}.sig`),
      await Keyring.fromBytes(exported),
    );
    expect(signer.fingerprint).toBe(primary);
    expect(signer.signingKeyId).toBe(subkeyId);
    expect(signer.keyId).toBe(primary.slice(24));
  });

  it('a gpg key exported armored and passphrase-protected loads with its passphrase only', async () => {
    await gpg(
      '--passphrase',
      'p2t-pw',
      '--pinentry-mode',
      'loopback',
      '--quick-gen-key',
      'p2t prot <p2t-prot@p2t.example>',
      'ed25519',
      'sign',
      'never',
    );
    const { stdout: armored } = await gpg(
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      'p2t-pw',
      '--armor',
      '--export-secret-keys',
    );
    await expect(loadSecretKeys(armored)).rejects.toMatchObject({
      code: AuthErrorCodes.SECRET_KEY_INVALID,
      message: expect.stringContaining('protected by a passphrase'),
    });
    await expect(loadSecretKeys(armored, { passphrase: 'wrong' })).rejects.toMatchObject({
      code: AuthErrorCodes.SECRET_KEY_INVALID,
    });
    const [key] = await loadSecretKeys(armored, { passphrase: 'p2t-pw' });
    const signed = await signManifest('id: p2t-prot\n', key!);
    await writeFile(join(home, 'p.asc'), signed);
    expect(await gpgVerify(join(home, 'p.asc'))).toContain('[GNUPG:] GOODSIG');
  });
});

describe('@p2/auth → gpg', () => {
  it('signManifest with the P2 secret keyring: gpg --verify accepts it', async () => {
    const [key] = await loadSecretKeyFile(`${fixtures}keys/p2universe-secring.gpg`);
    const signed = await signManifest(MANIFEST, key!);
    await gpg('--import', `${fixtures}keys/p2universe-pubring.gpg`);
    await writeFile(join(home, 'm.asc'), signed);
    const status = await gpgVerify(join(home, 'm.asc'));
    expect(status).toContain(`[GNUPG:] VALIDSIG ${P2UNIVERSE}`);
    // what gpg extracts is our manifest, line for line (clearsigning drops trailing blanks)
    await gpg('--output', join(home, 'm.out'), '--decrypt', join(home, 'm.asc'));
    const text = await readFile(join(home, 'm.out'), 'utf8');
    expect(text).toBe(MANIFEST.replace(/[ \t]+$/gm, ''));
    // and it verifies here too
    const keyring = await Keyring.fromFile(`${fixtures}keys/p2universe-pubring.gpg`);
    await expect(verifyClearsigned(split(signed), keyring)).resolves.toMatchObject({
      signer: { fingerprint: P2UNIVERSE },
    });
  });

  it('signArtifact (binary and armored) verifies with gpg --verify', async () => {
    const [key] = await loadSecretKeyFile(`${fixtures}keys/p2universe-secring.gpg`);
    await gpg('--import', `${fixtures}keys/p2universe-pubring.gpg`);
    const artifact = join(home, 'p2t-app.tar.gz');
    await writeFile(artifact, Buffer.alloc(10_000, 3));
    await writeFile(`${artifact}.sig`, await signArtifact({ path: artifact }, key!));
    await writeFile(
      `${artifact}.asc`,
      await signArtifact({ path: artifact }, key!, { armor: true }),
    );
    for (const sig of ['.sig', '.asc']) {
      expect(await gpgVerify(artifact + sig, artifact)).toContain(
        `[GNUPG:] VALIDSIG ${P2UNIVERSE}`,
      );
    }
    // gpg refuses it once the artifact changes, as we do
    await writeFile(artifact, Buffer.alloc(10_000, 4));
    await expect(gpgVerify(`${artifact}.sig`, artifact)).rejects.toThrow();
  });

  it("gpg agrees that P2's 2016 build-manifest signatures are good (key now expired)", async () => {
    await gpg('--import', `${fixtures}keys/artifact-builder-public.key`);
    for (const sig of ['.sig', '.sig.raw']) {
      const status = await gpgVerify(
        `${fixtures}signatures/hello-server.tar.gz.manifest${sig}`,
        `${fixtures}signatures/hello-server.tar.gz.manifest`,
      );
      expect(status).toContain('[GNUPG:] VALIDSIG C8D49DFED934CAC923CA417E079E5B0BE07F19DE');
      expect(status).toContain('[GNUPG:] KEYEXPIRED');
    }
  });
});
