import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HoistErrorCodes } from './errors.js';
import { serveBytes, startServer, type TestServer } from './http-test-server.js';
import {
  type ArtifactToVerify,
  activateInstall,
  installArtifact,
  pruneInstalls,
  readLink,
  switchLink,
} from './install.js';
import { fixtureArchives, makeArchive, tempDir } from './test-support.js';

const VERSION = '3c021aff048ca8117593f9c71e03b87cf72fd440';
let work: { dir: string; cleanup: () => Promise<void> };
let server: TestServer | undefined;
let artifact: Buffer;
let artifactSha: string;

beforeEach(async () => {
  work = await tempDir('p2t-hoist-install-');
  artifact = await makeArchive([
    { header: { name: 'bin/launch', mode: 0o755 }, content: '#!/bin/sh\necho hi\n' },
    { header: { name: 'app-manifest.yaml' }, content: 'ports: {43770: [http]}\n' },
  ]);
  artifactSha = createHash('sha256').update(artifact).digest('hex');
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await work.cleanup();
});

const root = () => join(work.dir, 'pods', 'hello', 'app');

/** The installs directory holds exactly these names (no staging or download leftovers). */
async function expectInstalls(names: string[]) {
  expect((await readdir(join(root(), 'installs'))).sort()).toEqual(names.sort());
}

describe('installArtifact', () => {
  it('downloads, verifies and installs into installs/<lid>_<version>; a second install is a no-op', async () => {
    server = await startServer((req, res) => serveBytes(artifact, req, res));
    const location = `${server.url}/hello_${VERSION}.tar.gz`;
    const seen: ArtifactToVerify[] = [];
    const verifier = {
      async verify(candidate: ArtifactToVerify) {
        seen.push(candidate);
        expect(
          createHash('sha256')
            .update(await readFile(candidate.path))
            .digest('hex'),
        ).toBe(candidate.sha256);
      },
    };
    const result = await installArtifact({
      launchableRoot: root(),
      launchableId: 'app',
      location,
      expectedSha256: artifactSha.toUpperCase(),
      verifier,
    });
    expect(result).toMatchObject({
      dirName: `app_${VERSION}`,
      alreadyInstalled: false,
      sha256: artifactSha,
    });
    expect(await readFile(join(result.installDir, 'bin/launch'), 'utf8')).toContain('echo hi');
    expect(seen[0]).toMatchObject({
      sha256: artifactSha,
      location,
      verificationLocations: { signature: `${location}.sig`, manifest: `${location}.manifest` },
    });
    await expectInstalls([`app_${VERSION}`]);

    const again = await installArtifact({
      launchableRoot: root(),
      launchableId: 'app',
      location,
      verifier,
    });
    expect(again).toMatchObject({ alreadyInstalled: true, installDir: result.installDir });
    expect(server.requests).toHaveLength(1);
  });

  it('a discovered artifact (registry): asked only when not installed; its verification locations reach the verifier', async () => {
    server = await startServer((req, res) => serveBytes(artifact, req, res));
    const location = `${server.url}/artifacts/anything.tar.gz`;
    const given = {
      signature: `${server.url}/sigs/build.sig`,
      manifest: `${server.url}/m/build.manifest`,
      manifestSignature: `${server.url}/m/build.manifest.sig`,
    };
    let asked = 0;
    const seen: ArtifactToVerify[] = [];
    const options = {
      launchableRoot: root(),
      launchableId: 'app',
      version: 'asdf',
      discover: async () => {
        asked++;
        return { location, verificationLocations: given };
      },
      verifier: { verify: async (candidate: ArtifactToVerify) => void seen.push(candidate) },
    };
    const result = await installArtifact(options);
    expect(result).toMatchObject({ dirName: 'app_asdf', alreadyInstalled: false, location });
    expect(seen[0]).toMatchObject({ location, verificationLocations: given });
    const again = await installArtifact(options);
    expect(again.alreadyInstalled).toBe(true);
    expect(asked).toBe(1);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses discovery without a version, and neither or both of location and discover', async () => {
    const discover = async () => ({ location: 'https://a.local/x.tar.gz' });
    const base = { launchableRoot: root(), launchableId: 'app' };
    await expect(installArtifact({ ...base, discover })).rejects.toMatchObject({
      code: HoistErrorCodes.NAME_INVALID,
    });
    await expect(installArtifact(base)).rejects.toMatchObject({
      code: HoistErrorCodes.LOCATION_INVALID,
    });
    await expect(
      installArtifact({ ...base, version: 'v', discover, location: 'https://a.local/y.tar.gz' }),
    ).rejects.toMatchObject({ code: HoistErrorCodes.LOCATION_INVALID });
    await expect(
      installArtifact({ ...base, version: 'v1\nFOO=bar', discover }),
    ).rejects.toMatchObject({ code: HoistErrorCodes.NAME_INVALID });
  });

  it('extracts nothing when the digest does not match', async () => {
    server = await startServer((req, res) => serveBytes(artifact, req, res));
    const error = await installArtifact({
      launchableRoot: root(),
      launchableId: 'app',
      location: `${server.url}/hello.tar.gz`,
      expectedSha256: '0'.repeat(64),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: HoistErrorCodes.DIGEST_MISMATCH,
      details: { expected: '0'.repeat(64), actual: artifactSha },
    });
    await expectInstalls([]);
  });

  it('extracts nothing when the verifier refuses', async () => {
    const path = join(work.dir, 'hello.tar.gz');
    await writeFile(path, artifact);
    const error = await installArtifact({
      launchableRoot: root(),
      launchableId: 'app',
      location: path,
      localRoots: [work.dir],
      verifier: {
        async verify() {
          throw new Error('signature by unknown key 0xDEADBEEF');
        },
      },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: HoistErrorCodes.VERIFICATION_FAILED,
      message: expect.stringContaining('unknown key 0xDEADBEEF'),
    });
    await expectInstalls([]);
  });

  it('leaves no staging or download debris when the archive is hostile', async () => {
    server = await startServer((req, res) =>
      serveBytes(Buffer.from(readFileSyncFixture('escaping_symlink.tar.gz')), req, res),
    );
    await expect(
      installArtifact({
        launchableRoot: root(),
        launchableId: 'app',
        location: `${server.url}/x.tar.gz`,
      }),
    ).rejects.toMatchObject({ code: HoistErrorCodes.ARCHIVE_LINK_ESCAPE });
    await expectInstalls([]);
  });

  it('installs from file: URLs and plain paths into installs/<lid> when the name has no version', async () => {
    const path = join(work.dir, 'hoisted-hello_def456.tar.gz');
    await writeFile(path, artifact);
    const result = await installArtifact({
      launchableRoot: root(),
      launchableId: 'app',
      location: `file://${path}`,
      localRoots: [work.dir],
    });
    expect(result.dirName).toBe('app');
    const explicit = await installArtifact({
      launchableRoot: root(),
      launchableId: 'app',
      location: path,
      localRoots: [work.dir],
      version: 'v2',
    });
    expect(explicit.dirName).toBe('app_v2');
    await expectInstalls(['.app.source', 'app', 'app_v2']);
  });

  it('replaces a version-less install when its location changes (P2 never did)', async () => {
    const first = join(work.dir, 'one', 'hoisted-hello_def456.tar.gz');
    const second = join(work.dir, 'two', 'hoisted-hello_def456.tar.gz');
    await mkdir(dirname(first));
    await mkdir(dirname(second));
    await writeFile(first, artifact);
    await writeFile(second, await makeArchive([{ header: { name: 'bin/launch' }, content: 'v2' }]));
    const install = (location: string) =>
      installArtifact({
        launchableRoot: root(),
        launchableId: 'app',
        location,
        localRoots: [work.dir],
      });

    expect(await install(first)).toMatchObject({
      dirName: 'app',
      alreadyInstalled: false,
      replaced: false,
    });
    expect(await install(first)).toMatchObject({ alreadyInstalled: true });
    expect(await install(second)).toMatchObject({
      dirName: 'app',
      alreadyInstalled: false,
      replaced: true,
    });
    expect(await readFile(join(root(), 'installs/app/bin/launch'), 'utf8')).toBe('v2');
    expect(await install(second)).toMatchObject({ alreadyInstalled: true });
    await expectInstalls(['.app.source', 'app']);
    expect(await readFile(join(root(), 'installs/.app.source'), 'utf8')).not.toContain(work.dir);

    // An install without a source record (made by P2) is replaced once, then kept.
    await rm(join(root(), 'installs/.app.source'));
    expect(await install(second)).toMatchObject({ replaced: true });
    expect(await install(second)).toMatchObject({ alreadyInstalled: true });
  });

  it('lets concurrent installs of one version race safely', async () => {
    const path = join(work.dir, 'a.tar.gz');
    await writeFile(path, artifact);
    const results = await Promise.all(
      [1, 2, 3].map(() =>
        installArtifact({
          launchableRoot: root(),
          launchableId: 'app',
          location: path,
          localRoots: [work.dir],
          version: 'v1',
        }),
      ),
    );
    expect(results.filter((r) => !r.alreadyInstalled).length).toBeGreaterThanOrEqual(1);
    await expectInstalls(['app_v1']);
  });

  it.runIf(process.getuid?.() === 0)('chowns the install to the owner (root only)', async () => {
    const path = join(work.dir, 'a.tar.gz');
    await writeFile(path, artifact);
    const result = await installArtifact({
      launchableRoot: root(),
      launchableId: 'app',
      location: path,
      localRoots: [work.dir],
      owner: { uid: 65534, gid: 65534 },
    });
    for (const p of [
      result.installDir,
      join(result.installDir, 'bin/launch'),
      join(root(), 'installs'),
    ]) {
      expect((await lstat(p)).uid).toBe(65534);
    }
  });
});

function readFileSyncFixture(name: string): Buffer {
  return readFileSync(join(fixtureArchives, name));
}

describe('current and last links', () => {
  async function install(version: string) {
    const path = join(work.dir, `${version}.tar.gz`);
    await writeFile(path, artifact);
    return installArtifact({
      launchableRoot: root(),
      launchableId: 'app',
      location: path,
      localRoots: [work.dir],
      version,
    });
  }

  it('switches current atomically and remembers the previous install as last', async () => {
    await install('v1');
    await install('v2');
    expect(await activateInstall(root(), 'app_v1')).toEqual({ previous: undefined });
    expect(await readlink(join(root(), 'current'))).toBe(join(root(), 'installs', 'app_v1'));
    expect(await activateInstall(root(), 'app_v2')).toEqual({ previous: 'app_v1' });
    expect(await readLink(root(), 'current')).toBe('app_v2');
    expect(await readLink(root(), 'last')).toBe('app_v1');
    expect((await readdir(root())).sort()).toEqual(['current', 'installs', 'last']);
  });

  it('refuses to point a link at a missing install', async () => {
    await expect(switchLink(root(), 'current', 'app_nope')).rejects.toMatchObject({
      code: HoistErrorCodes.IO,
    });
    await expect(switchLink(root(), 'current', '../x')).rejects.toMatchObject({
      code: HoistErrorCodes.NAME_INVALID,
    });
  });
});

describe('pruneInstalls', () => {
  async function fakeInstall(name: string, ageSeconds: number, bytes = 10) {
    const dir = join(root(), 'installs', name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'f'), Buffer.alloc(bytes));
    const when = new Date(Date.now() - ageSeconds * 1000);
    await utimes(dir, when, when);
  }

  it('keeps current, last and the newest N', async () => {
    for (const [i, name] of ['v1', 'v2', 'v3', 'v4', 'v5', 'v6'].entries())
      await fakeInstall(name, 100 - i * 10);
    await switchLink(root(), 'current', 'v1');
    await switchLink(root(), 'last', 'v2');
    const result = await pruneInstalls(root(), { keep: 2 });
    expect(result.removed.sort()).toEqual(['v3', 'v4']);
    await expectInstalls(['v1', 'v2', 'v5', 'v6']);
  });

  it('deletes oldest first until the size limit holds (P2 max_launchable_disk_usage)', async () => {
    await fakeInstall('old', 300, 1000);
    await fakeInstall('mid', 200, 1000);
    await fakeInstall('new', 100, 1000);
    await switchLink(root(), 'current', 'old');
    const result = await pruneInstalls(root(), { maxBytes: 2000 });
    expect(result).toMatchObject({ removed: ['mid'], remainingBytes: 2000 });
    await expectInstalls(['new', 'old']);
  });

  it('keeps protected installs (pre-staged versions) whatever keep and maxBytes say', async () => {
    await fakeInstall('staged', 300, 1000);
    await fakeInstall('mid', 200, 1000);
    await fakeInstall('new', 100, 1000);
    await switchLink(root(), 'current', 'new');
    const result = await pruneInstalls(root(), { keep: 0, maxBytes: 1000, protect: ['staged'] });
    expect(result.removed).toEqual(['mid']);
    await expectInstalls(['new', 'staged']);
  });

  it('removes stale staging and download leftovers of crashed installs', async () => {
    await fakeInstall('.staging-app_v1-abc', 7200);
    await fakeInstall('.staging-app_v2-def', 1);
    await writeFile(join(root(), 'installs', '.download-app_v1-abc'), 'partial');
    await utimes(join(root(), 'installs', '.download-app_v1-abc'), new Date(0), new Date(0));
    await pruneInstalls(root(), { keep: 5 });
    await expectInstalls(['.staging-app_v2-def']);
    expect(existsSync(join(root(), 'installs', '.staging-app_v1-abc'))).toBe(false);
  });
});
