import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@p2/manifest';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeployerPolicy, parseAuthConfig } from './config.js';
import { DeployPolicy } from './deploy-policy.js';
import { AuthErrorCodes } from './errors.js';
import { Keyring } from './keyring.js';
import {
  KeyringDeployerPolicy,
  type ManifestToAuthorize,
  NoDeployerPolicy,
  UserDeployerPolicy,
} from './policy.js';
import { cosignManifest, signArtifact, signManifest } from './sign.js';
import { fixture, newKey, split } from './test-support.js';

type TestKey = Awaited<ReturnType<typeof newKey>>;

const P2_SIGNED_TEST_STRING = `
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

id: thepod
launchables:
  my-app:
    launchable_type: hoist
    location: https://localhost:4444/foo/bar/baz.tar.gz
status_port: 8000
config:
  ENVIRONMENT: staging
-----BEGIN PGP SIGNATURE-----
Version: GnuPG v2

iQEcBAEBCAAGBQJV3LVOAAoJEFvqkbrdatOH63cH/3NiqIBRA+dI7k4KT2CtUQrk
QX4aYfmTvqcf/PqeilJiVWL+fWfP/EAM/cNSsg4rRylmnRyxG2BDL4wn12oWEDe5
jmv/XGEb7vBgOZfOTeFLiorViMMKFYqXFqQZp2jwAdEUgzF4AiLyg9+MX2B19mOV
c6o8YRrhIMGiWIA6rTDX53ruk93p7z/axKGJ0nonxJG3u7Be2MsPlYEavZLtKAg1
0GyjcFe676Kqz8i1RiyelA/+zp8qaS+jWemrKRrDwmMxAY5j5eFxPFk2mxRems6J
QyB184dCJQnFbcQslyXDSR4Lal12NPvxbtK/4YYXZZVwf4hKCfVqvmG2zgwINDc=
=IMbK
-----END PGP SIGNATURE-----
`;

async function signedManifest(
  id: string,
  keys: TestKey[],
  runAs?: string,
): Promise<ManifestToAuthorize> {
  const text = `id: ${id}\n${runAs ? `run_as: ${runAs}\n` : ''}launchables: {}\n`;
  // a real @p2/manifest Manifest: run_as and the clearsigned parts come from the parser
  return parseManifest(
    await signManifest(
      text,
      keys.map((k) => k.privateKey),
    ),
  );
}

describe('deployer policies', () => {
  let alice: TestKey;
  let bob: TestKey;
  let carol: TestKey;
  let keyring: Keyring;
  let dir: string;

  beforeAll(async () => {
    [alice, bob, carol] = await Promise.all([
      newKey('p2t-alice'),
      newKey('p2t-bob'),
      newKey('p2t-carol'),
    ]);
    keyring = await Keyring.fromBytes(
      alice.armoredPublic + bob.armoredPublic + carol.armoredPublic,
    );
    dir = await mkdtemp(join(tmpdir(), 'p2t-auth-policy-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('none', () => {
    it('authorizes unsigned manifests and ignores signatures', async () => {
      const policy = new NoDeployerPolicy();
      await expect(policy.authorize({ id: 'p2t-x', runAs: 'p2t-x' })).resolves.toEqual({
        policy: 'none',
        signers: [],
      });
      await expect(
        policy.checkDigest(new Uint8Array([1]), new Uint8Array([2])),
      ).resolves.toBeUndefined();
    });
  });

  describe('keyring', () => {
    it('an unsigned manifest → P2_AUTH_UNSIGNED', async () => {
      const policy = new KeyringDeployerPolicy({ keyring });
      await expect(policy.authorize({ id: 'p2t-app', runAs: 'p2t-app' })).rejects.toMatchObject({
        code: AuthErrorCodes.UNSIGNED,
        message: expect.stringContaining('received unsigned manifest for pod p2t-app'),
      });
    });

    it("P2's signed test manifest (key 5BEA91BADD6AD387, not in any keyring) → `unknown signer: 5BEA91BADD6AD387`", async () => {
      // spec/01-appendix-sha-goldens.md, synthetic-signed-test-string (from P2's manifest tests)
      const manifest = parseManifest(P2_SIGNED_TEST_STRING);
      expect(manifest.id).toBe('thepod');
      const policy = new KeyringDeployerPolicy({
        keyring: await Keyring.fromBytes(fixture('keys/p2universe-pubring.gpg')),
      });
      await expect(policy.authorize(manifest)).rejects.toMatchObject({
        code: AuthErrorCodes.UNKNOWN_SIGNER,
        message: expect.stringContaining('unknown signer: 5BEA91BADD6AD387'),
        details: { keyId: '5BEA91BADD6AD387' },
      });
    });

    it('a clear-signed envelope that cannot be read (truncated) → P2_AUTH_TRUNCATED_SIGNATURE, not "unsigned"', async () => {
      const policy = new KeyringDeployerPolicy({ keyring });
      const signed = await signManifest('id: p2t-app\n', alice.privateKey);
      const cut = signed.slice(0, signed.indexOf('-----END'));
      await expect(
        policy.authorize({ id: 'p2t-app', runAs: 'p2t-app', raw: new TextEncoder().encode(cut) }),
      ).rejects.toMatchObject({ code: AuthErrorCodes.TRUNCATED_SIGNATURE });
    });

    it('logs one structured record per decision', async () => {
      const lines: Record<string, unknown>[] = [];
      const logger = pino(
        { level: 'debug' },
        { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
      );
      const policy = new KeyringDeployerPolicy({ keyring, logger });
      await policy.authorize(await signedManifest('p2t-app', [alice]));
      await policy.authorize({ id: 'p2t-app', runAs: 'p2t-app' }).catch(() => undefined);
      expect(lines.map((l) => l.msg)).toEqual(['manifest authorized', 'manifest refused']);
      expect(lines[0]).toMatchObject({
        podId: 'p2t-app',
        signers: [alice.publicKey.getFingerprint().toUpperCase()],
      });
      expect(lines[1]).toMatchObject({ err: { code: AuthErrorCodes.UNSIGNED } });
    });

    it('accepts any key in the keyring and reports the signer fingerprint', async () => {
      const policy = new KeyringDeployerPolicy({ keyring });
      const result = await policy.authorize(await signedManifest('p2t-app', [carol]));
      expect(result.policy).toBe('keyring');
      expect(result.signer?.fingerprint).toBe(carol.publicKey.getFingerprint().toUpperCase());
    });

    it('authorized_deployers restricts only pod p2-preparer (as in P2)', async () => {
      const policy = new KeyringDeployerPolicy({
        keyring,
        authorizedDeployers: [alice.publicKey.getFingerprint()],
      });
      // any keyring key may deploy an ordinary pod
      await expect(policy.authorize(await signedManifest('p2t-app', [bob]))).resolves.toBeDefined();
      // only listed deployers may deploy the preparer
      await expect(
        policy.authorize(await signedManifest('p2-preparer', [alice])),
      ).resolves.toMatchObject({ signer: { emails: ['p2t-alice@p2t.example'] } });
    });

    it('signer not in authorized_deployers for p2-preparer → P2_AUTH_SIGNER_NOT_AUTHORIZED naming the key', async () => {
      const policy = new KeyringDeployerPolicy({
        keyring,
        authorizedDeployers: [alice.publicKey.getFingerprint().toUpperCase()],
      });
      const bobId = bob.publicKey.getKeyID().toHex().toUpperCase();
      await expect(
        policy.authorize(await signedManifest('p2-preparer', [bob])),
      ).rejects.toMatchObject({
        code: AuthErrorCodes.SIGNER_NOT_AUTHORIZED,
        message: expect.stringContaining(`key ${bobId}) not authorized to deploy p2-preparer`),
        details: { keyId: bobId },
      });
    });

    it('checkDigest: no signature is accepted, a signature must verify against the keyring', async () => {
      const policy = new KeyringDeployerPolicy({ keyring });
      const digest = new TextEncoder().encode(`${'a'.repeat(64)} *bin/launch\n`);
      await expect(policy.checkDigest(digest, undefined)).resolves.toBeUndefined();
      await expect(
        policy.checkDigest(digest, await signArtifact(digest, alice.privateKey)),
      ).resolves.toBeUndefined();
      const stranger = await newKey('p2t-stranger');
      await expect(
        policy.checkDigest(digest, await signArtifact(digest, stranger.privateKey)),
      ).rejects.toMatchObject({ code: AuthErrorCodes.UNKNOWN_SIGNER });
    });
  });

  describe('user', () => {
    const policyYaml = [
      'groups:',
      '  web-team: [p2t-alice@p2t.example]',
      '  infra: [p2t-carol@p2t.example]',
      'apps:',
      '  p2t-web: [web-team]',
      '  p2-preparer: [infra]',
      '',
    ].join('\n');

    it('allows a signer whose e-mail is in a group listed for the run-as user', async () => {
      const policy = new UserDeployerPolicy({
        keyring,
        deployPolicy: DeployPolicy.parse(policyYaml),
      });
      // pod id differs from the app user: run_as decides
      const result = await policy.authorize(
        await signedManifest('p2t-frontend', [alice], 'p2t-web'),
      );
      expect(result.signer?.emails).toEqual(['p2t-alice@p2t.example']);
    });

    it('user-policy denial → P2_AUTH_POLICY_DENIED naming the key, the app user and the groups', async () => {
      const policy = new UserDeployerPolicy({
        keyring,
        deployPolicy: DeployPolicy.parse(policyYaml),
      });
      const bobId = bob.publicKey.getKeyID().toHex().toUpperCase();
      const error = await policy
        .authorize(await signedManifest('p2t-frontend', [bob], 'p2t-web'))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: AuthErrorCodes.POLICY_DENIED,
        details: { appUser: 'p2t-web', keyId: bobId, allowedGroups: ['web-team'] },
      });
      expect((error as Error).message).toContain(bobId);
      expect((error as Error).message).toContain('p2t-bob@p2t.example');
    });

    it('an app user the policy does not list is denied (fail closed)', async () => {
      const policy = new UserDeployerPolicy({
        keyring,
        deployPolicy: DeployPolicy.parse(policyYaml),
      });
      await expect(
        policy.authorize(await signedManifest('p2t-unlisted', [alice])),
      ).rejects.toMatchObject({
        code: AuthErrorCodes.POLICY_DENIED,
        message: expect.stringContaining('lists no groups for p2t-unlisted'),
      });
    });

    it('pod p2-preparer is checked as app user p2-preparer whatever its run_as', async () => {
      const policy = new UserDeployerPolicy({
        keyring,
        deployPolicy: DeployPolicy.parse(policyYaml),
      });
      await expect(
        policy.authorize(await signedManifest('p2-preparer', [carol], 'root')),
      ).resolves.toBeDefined();
      await expect(
        policy.authorize(await signedManifest('p2-preparer', [alice], 'p2t-web')),
      ).rejects.toMatchObject({ code: AuthErrorCodes.POLICY_DENIED });
    });

    it('unsigned manifests fail the user policy too', async () => {
      const policy = new UserDeployerPolicy({
        keyring,
        deployPolicy: DeployPolicy.parse(policyYaml),
      });
      await expect(policy.authorize({ id: 'p2t-web', runAs: 'p2t-web' })).rejects.toMatchObject({
        code: AuthErrorCodes.UNSIGNED,
      });
    });

    it('a malformed deploy policy names the field', () => {
      expect(() => DeployPolicy.parse('groups: {web: a@b}\n', '/etc/p2t/policy.yaml')).toThrow(
        expect.objectContaining({
          code: AuthErrorCodes.DEPLOY_POLICY_INVALID,
          message: expect.stringContaining('`groups.web` must be a list of strings'),
        }),
      );
    });
  });

  describe('M-of-N signing (beyond P2)', () => {
    it('a chosen pod needs two distinct authorized signers; other pods need one', async () => {
      const policy = new KeyringDeployerPolicy({
        keyring,
        multiSignature: { 'p2t-critical': { required: 2 } },
      });
      await expect(
        policy.authorize(await signedManifest('p2t-other', [alice])),
      ).resolves.toBeDefined();
      const error = await policy
        .authorize(await signedManifest('p2t-critical', [alice]))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: AuthErrorCodes.NOT_ENOUGH_SIGNERS,
        details: { required: 2, counted: [alice.publicKey.getFingerprint().toUpperCase()] },
      });
      const both = await policy.authorize(await signedManifest('p2t-critical', [alice, bob]));
      expect(both.signers).toHaveLength(2);
    });

    it('co-signing an existing signed manifest adds the second signer', async () => {
      const policy = new KeyringDeployerPolicy({
        keyring,
        multiSignature: { 'p2t-critical': { required: 2 } },
      });
      const once = await signManifest('id: p2t-critical\nlaunchables: {}\n', alice.privateKey);
      const twice = await cosignManifest(once, bob.privateKey);
      const result = await policy.authorize({
        id: 'p2t-critical',
        runAs: 'p2t-critical',
        clearsigned: split(twice),
      });
      expect(result.signers.map((s) => s.emails[0])).toEqual([
        'p2t-alice@p2t.example',
        'p2t-bob@p2t.example',
      ]);
    });

    it('the same key signing twice counts once', async () => {
      const policy = new KeyringDeployerPolicy({
        keyring,
        multiSignature: { 'p2t-critical': {} },
      });
      const once = await signManifest('id: p2t-critical\n', alice.privateKey);
      const twice = await cosignManifest(once, alice.privateKey);
      await expect(
        policy.authorize({
          id: 'p2t-critical',
          runAs: 'p2t-critical',
          clearsigned: split(twice),
        }),
      ).rejects.toMatchObject({ code: AuthErrorCodes.NOT_ENOUGH_SIGNERS });
    });

    it('only listed signers count, and under the user policy each must pass the policy', async () => {
      const keyringPolicy = new KeyringDeployerPolicy({
        keyring,
        multiSignature: {
          'p2t-critical': {
            required: 2,
            signers: [alice.publicKey.getFingerprint(), carol.publicKey.getFingerprint()],
          },
        },
      });
      await expect(
        keyringPolicy.authorize(await signedManifest('p2t-critical', [alice, bob])),
      ).rejects.toMatchObject({ code: AuthErrorCodes.NOT_ENOUGH_SIGNERS });
      await expect(
        keyringPolicy.authorize(await signedManifest('p2t-critical', [alice, carol])),
      ).resolves.toBeDefined();

      const userPolicy = new UserDeployerPolicy({
        keyring,
        deployPolicy: DeployPolicy.parse(
          'groups: {ops: [p2t-alice@p2t.example, p2t-bob@p2t.example]}\napps: {p2t-critical: [ops]}\n',
        ),
        multiSignature: { 'p2t-critical': { required: 2 } },
      });
      await expect(
        userPolicy.authorize(await signedManifest('p2t-critical', [alice, carol])),
      ).rejects.toMatchObject({ code: AuthErrorCodes.NOT_ENOUGH_SIGNERS });
      await expect(
        userPolicy.authorize(await signedManifest('p2t-critical', [alice, bob])),
      ).resolves.toBeDefined();
    });
  });

  describe('configuration', () => {
    it('parses the preparer auth section and refuses empty or unknown types', () => {
      expect(
        parseAuthConfig({
          type: 'keyring',
          keyring: '/etc/p2/pubring.gpg',
          authorized_deployers: ['ABC'],
        }),
      ).toEqual({ type: 'keyring', keyring: '/etc/p2/pubring.gpg', authorizedDeployers: ['ABC'] });
      expect(() => parseAuthConfig({ type: '' })).toThrow(
        expect.objectContaining({ code: AuthErrorCodes.CONFIG_INVALID }),
      );
      expect(() => parseAuthConfig({ type: 'kerberos' })).toThrow(
        /expected one of none, keyring, user/,
      );
      expect(() => parseAuthConfig({ type: 'user', keyring: '/k' })).toThrow(/auth\.deploy_policy/);
      expect(
        parseAuthConfig({
          type: 'user',
          keyring: '/k',
          deploy_policy: '/p',
          multi_signature: { x: {} },
        }),
      ).toEqual({
        type: 'user',
        keyring: '/k',
        deployPolicy: '/p',
        multiSignature: { x: { required: 2 } },
      });
    });

    it('parses multi_signature strictly, naming the field and what was found', () => {
      const parse = (multi_signature: unknown) =>
        parseAuthConfig({ type: 'keyring', keyring: '/k', multi_signature });
      expect(parse({ '*': { required: 3 }, 'p2t-a': null })).toMatchObject({
        multiSignature: { '*': { required: 3 }, 'p2t-a': { required: 2 } },
      });
      for (const [value, message] of [
        [
          ['p2t-a'],
          /auth\.multi_signature: expected a map of pod id \(or \*\) → \{required, signers\}, found \["p2t-a"\]/,
        ],
        [
          { 'p2t-a': 3 },
          /auth\.multi_signature\.p2t-a: expected a map \{required, signers\}, found 3/,
        ],
        [{ 'p2t-a': { required: 0 } }, /p2t-a\.required: expected an integer ≥ 1, found 0/],
        [{ 'p2t-a': { requird: 2 } }, /p2t-a\.requird: unknown key/],
        [
          { 'p2t-a': { signers: 'ABC' } },
          /p2t-a\.signers: expected a list of fingerprints, found "ABC"/,
        ],
        [{ 'p2t-a': { required: 2, signers: ['ABC'] } }, /fewer than required \(2\)/],
      ] as const) {
        expect(() => parse(value), JSON.stringify(value)).toThrow(message);
      }
    });

    it('builds a user policy from files and re-reads the deploy policy when it changes', async () => {
      const keyringPath = join(dir, 'keys.asc');
      const policyPath = join(dir, 'policy.yaml');
      await writeFile(keyringPath, alice.armoredPublic);
      await writeFile(policyPath, 'groups: {g: [nobody@p2t.example]}\napps: {p2t-web: [g]}\n');
      await utimes(policyPath, 1000, 1000);
      const policy = await createDeployerPolicy(
        parseAuthConfig({ type: 'user', keyring: keyringPath, deploy_policy: policyPath }),
      );
      const manifest = await signedManifest('p2t-web', [alice]);
      await expect(policy.authorize(manifest)).rejects.toMatchObject({
        code: AuthErrorCodes.POLICY_DENIED,
      });
      await writeFile(policyPath, 'groups: {g: [p2t-alice@p2t.example]}\napps: {p2t-web: [g]}\n');
      await utimes(policyPath, 2000, 2000);
      await expect(policy.authorize(manifest)).resolves.toMatchObject({ policy: 'user' });
    });
  });
});
