import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  artifactVerificationUrls,
  createArtifactVerifier,
  readArtifactSha,
  withCompanionFiles,
} from './artifact.js';
import { AuthErrorCodes } from './errors.js';
import { Keyring } from './keyring.js';
import { signArtifact } from './sign.js';
import { fixture, fixtures, newKey } from './test-support.js';

// The fixture tarball itself is missing from the P2 mirror; its digest is known from the manifest.
const FIXTURE_SHA = '2b87fbfb565f7766e36b7d8fa6cf9975b57f612628d2bf730881ef0ea034b294';

describe('artifact verification', () => {
  let dir: string;
  let artifactPath: string;
  let artifact: Uint8Array;
  let builder: Awaited<ReturnType<typeof newKey>>;
  let keyring: Keyring;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2t-auth-artifact-'));
    artifact = new TextEncoder().encode('pretend this is a .tar.gz\n'.repeat(100));
    artifactPath = join(dir, 'p2t-app_abc.tar.gz');
    await writeFile(artifactPath, artifact);
    builder = await newKey('p2t-builder');
    keyring = await Keyring.fromBytes(builder.armoredPublic);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function signedBuildManifest(sha: string) {
    const buildManifest = new TextEncoder().encode(`artifact_sha: ${sha}`);
    return {
      buildManifest,
      buildManifestSignature: await signArtifact(buildManifest, builder.privateKey),
    };
  }
  const sha = () => createHash('sha256').update(artifact).digest('hex');

  it("manifest: P2's fixture build manifest and signatures (expired key) verify against its digest", async () => {
    const verifier = await createArtifactVerifier('manifest', {
      keyring: `${fixtures}keys/artifact-builder-public.key`,
    });
    for (const sig of ['.sig', '.sig.raw']) {
      const result = await verifier.verifyArtifact({
        sha256: FIXTURE_SHA.toUpperCase(),
        buildManifest: fixture('signatures/hello-server.tar.gz.manifest'),
        buildManifestSignature: fixture(`signatures/hello-server.tar.gz.manifest${sig}`),
      });
      expect(result).toMatchObject({
        policy: 'manifest',
        method: 'manifest',
        signer: { fingerprint: 'C8D49DFED934CAC923CA417E079E5B0BE07F19DE' },
      });
    }
  });

  it('manifest: a digest that differs from artifact_sha → P2_AUTH_ARTIFACT_DIGEST_MISMATCH', async () => {
    const verifier = await createArtifactVerifier('manifest', { keyring });
    const error = await verifier
      .verifyArtifact({ artifactPath, ...(await signedBuildManifest('0'.repeat(64))) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: AuthErrorCodes.ARTIFACT_DIGEST_MISMATCH,
      details: { expected: '0'.repeat(64), actual: sha() },
    });
  });

  it('manifest: hashes the file itself when no sha256 is given', async () => {
    const verifier = await createArtifactVerifier('manifest', { keyring });
    await expect(
      verifier.verifyArtifact({ artifactPath, ...(await signedBuildManifest(sha())) }),
    ).resolves.toMatchObject({ method: 'manifest' });
  });

  it('build: a detached signature over the tarball (binary or armored) verifies', async () => {
    const verifier = await createArtifactVerifier('build', { keyring });
    expect(verifier.needs).toEqual({ signature: true, buildManifest: false });
    for (const armor of [false, true]) {
      const signature = await signArtifact({ path: artifactPath }, builder.privateKey, { armor });
      await expect(verifier.verifyArtifact({ artifactPath, signature })).resolves.toMatchObject({
        method: 'build',
      });
    }
  });

  it('build: a signature over other bytes → P2_AUTH_SIGNATURE_MISMATCH', async () => {
    const verifier = await createArtifactVerifier('build', { keyring });
    const signature = await signArtifact(new Uint8Array([1, 2, 3]), builder.privateKey);
    await expect(
      verifier.verifyArtifact({ artifactPath, signature, location: 'https://u:pw@h/a.tar.gz' }),
    ).rejects.toMatchObject({
      code: AuthErrorCodes.SIGNATURE_MISMATCH,
      message: expect.not.stringContaining('pw@'),
    });
  });

  it('build: a missing artifact file → P2_AUTH_ARTIFACT_UNREADABLE', async () => {
    const verifier = await createArtifactVerifier('build', { keyring });
    const signature = await signArtifact(artifact, builder.privateKey);
    await expect(
      verifier.verifyArtifact({ artifactPath: join(dir, 'gone.tar.gz'), signature }),
    ).rejects.toMatchObject({ code: AuthErrorCodes.ARTIFACT_UNREADABLE });
  });

  it('build: no signature supplied → P2_AUTH_ARTIFACT_SIGNATURE_MISSING', async () => {
    const verifier = await createArtifactVerifier('build', { keyring });
    await expect(verifier.verifyArtifact({ artifactPath })).rejects.toMatchObject({
      code: AuthErrorCodes.ARTIFACT_SIGNATURE_MISSING,
    });
  });

  it('either: falls back to the build signature when the build manifest is missing', async () => {
    const verifier = await createArtifactVerifier('either', { keyring });
    const signature = await signArtifact(artifact, builder.privateKey);
    await expect(verifier.verifyArtifact({ artifactPath, signature })).resolves.toMatchObject({
      policy: 'either',
      method: 'build',
    });
  });

  it('either: both failing → P2_AUTH_ARTIFACT_UNVERIFIED listing both reasons', async () => {
    const verifier = await createArtifactVerifier('either', { keyring });
    const error = await verifier
      .verifyArtifact({
        artifactPath,
        ...(await signedBuildManifest('1'.repeat(64))),
        signature: new TextEncoder().encode('junk'),
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: AuthErrorCodes.ARTIFACT_UNVERIFIED,
      details: {
        manifestError: AuthErrorCodes.ARTIFACT_DIGEST_MISMATCH,
        buildError: AuthErrorCodes.MALFORMED_SIGNATURE,
      },
    });
  });

  it('withCompanionFiles fetches only what the policy needs over real HTTP, then verifies', async () => {
    const served = new Map<string, Uint8Array>([
      ['/a/p2t-app_abc.tar.gz.sig', await signArtifact(artifact, builder.privateKey)],
    ]);
    const requested: string[] = [];
    const server = createServer((req, res) => {
      requested.push(req.url ?? '');
      const body = served.get((req.url ?? '').split('?')[0]!);
      res.writeHead(body ? 200 : 404).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const fetchCompanion = async (url: string) => {
        const response = await fetch(url);
        if (response.status === 404) return undefined;
        if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
        return new Uint8Array(await response.arrayBuffer());
      };
      const location = `http://127.0.0.1:${port}/a/p2t-app_abc.tar.gz?t=1`;
      const urls = artifactVerificationUrls(location);
      const downloaded = {
        path: artifactPath,
        sha256: sha(),
        display: location,
        verificationLocations: {
          signature: urls.signature,
          manifest: urls.buildManifest,
          manifestSignature: urls.buildManifestSignature,
        },
      };
      // build: only the .sig is fetched
      await withCompanionFiles(
        await createArtifactVerifier('build', { keyring }),
        fetchCompanion,
      ).verify(downloaded);
      expect(requested).toEqual(['/a/p2t-app_abc.tar.gz.sig?t=1']);
      // either: the build manifest is missing (404), the build signature vouches
      requested.length = 0;
      await withCompanionFiles(
        await createArtifactVerifier('either', { keyring }),
        fetchCompanion,
      ).verify(downloaded);
      expect(requested.sort()).toEqual([
        '/a/p2t-app_abc.tar.gz.manifest.sig?t=1',
        '/a/p2t-app_abc.tar.gz.manifest?t=1',
        '/a/p2t-app_abc.tar.gz.sig?t=1',
      ]);
      // manifest: nothing to fetch → refused, nothing accepted by accident
      await expect(
        withCompanionFiles(
          await createArtifactVerifier('manifest', { keyring }),
          fetchCompanion,
        ).verify(downloaded),
      ).rejects.toMatchObject({ code: AuthErrorCodes.ARTIFACT_SIGNATURE_MISSING });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('none: accepts anything and needs nothing', async () => {
    const verifier = await createArtifactVerifier('');
    expect(verifier.needs).toEqual({ signature: false, buildManifest: false });
    await expect(verifier.verifyArtifact({})).resolves.toEqual({ policy: 'none', method: 'none' });
  });

  it('refuses unknown policy types and a missing keyring', async () => {
    await expect(createArtifactVerifier('gpg' as 'build')).rejects.toMatchObject({
      code: AuthErrorCodes.CONFIG_INVALID,
    });
    await expect(createArtifactVerifier('build')).rejects.toMatchObject({
      code: AuthErrorCodes.CONFIG_INVALID,
    });
  });

  it('companion URLs append to the path and keep the query', () => {
    expect(artifactVerificationUrls('https://h/x/a.tar.gz?token=1')).toEqual({
      signature: 'https://h/x/a.tar.gz.sig?token=1',
      buildManifest: 'https://h/x/a.tar.gz.manifest?token=1',
      buildManifestSignature: 'https://h/x/a.tar.gz.manifest.sig?token=1',
    });
  });

  it('readArtifactSha reads the fixture and refuses a manifest without a digest', () => {
    expect(readArtifactSha(fixture('signatures/hello-server.tar.gz.manifest'))).toBe(FIXTURE_SHA);
    expect(() => readArtifactSha(new TextEncoder().encode('artifact_sha: nope'))).toThrow(
      expect.objectContaining({ code: AuthErrorCodes.BUILD_MANIFEST_INVALID }),
    );
  });

  it('readArtifactSha never quotes the build manifest in its errors', () => {
    for (const text of ['artifact_sha: root:$6$SECRETHASH', 'root:$6$SECRETHASH: [x\n  - : :']) {
      let error: unknown;
      try {
        readArtifactSha(new TextEncoder().encode(text), 'file:///a.tar.gz');
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: AuthErrorCodes.BUILD_MANIFEST_INVALID });
      const shown = `${(error as Error).message} ${JSON.stringify(error)} ${String((error as Error).cause)}`;
      expect(shown).not.toContain('SECRETHASH');
    }
  });
});
