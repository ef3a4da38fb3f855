/**
 * `version:` launchables for real (spec 02 §2.6): an artifact registry on loopback answers
 * `/discover/<pod>` with the artifact's location and where its signature is; the deploy installs
 * the artifact, checks the gpg signature the registry named (P2's `artifact_auth: build`), and
 * runs the app under runit as its own user. Needs root. Every name starts with p2t- and everything
 * is removed afterwards.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createArtifactVerifier, withCompanionFiles } from '@p2/auth';
import { detectCgroups } from '@p2/cgroups';
import { fetchBytes, HoistErrorCodes, packArtifact } from '@p2/hoist';
import { type Manifest, parseManifest } from '@p2/manifest';
import { PodHost, type PodHostOptions } from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUpHostTest, freePort } from '../../../test-support/host-test.js';
import { deployPod } from './deploy.js';

const run = promisify(execFile);
const fixtures = fileURLToPath(new URL('../../../fixtures/p2/', import.meta.url));
const helloApp = fileURLToPath(new URL('../../../examples/hello-app', import.meta.url));
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-registry-${suffix}`;
const node = `p2t-node-${suffix}`;
const asRoot = process.getuid?.() === 0;
const cgroupsAvailable = existsSync('/sys/fs/cgroup/memory');
const fast = { retries: 1, backoffMs: 5, maxBackoffMs: 10 };

let work = '';
let registry: Server;
let registryUrl = '';
let runsvdir: RunsvDir;
let osVersionFile = '';
let artifact: Buffer;
let artifactSha = '';
let signature: Buffer;
/** A valid signature by the same key over other bytes. */
let tamperedSignature: Buffer;
/** Requests the registry saw: path and query. */
const seen: URL[] = [];
/** Versions the registry knows; the one named `tampered` comes with another artifact's signature. */
const published = new Set(['v1', 'tampered']);

async function gpg(...args: string[]): Promise<void> {
  await run('gpg', ['--batch', '--homedir', join(work, 'gnupg'), ...args]);
}

function serveRegistry(req: IncomingMessage, res: import('node:http').ServerResponse): void {
  const url = new URL(req.url ?? '/', registryUrl);
  seen.push(url);
  const send = (status: number, body: string | Buffer, type = 'application/octet-stream') => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  if (url.pathname === `/discover/${podId}`) {
    const version = url.searchParams.get('version') ?? '';
    if (!published.has(version) || url.searchParams.get('directory') !== 'deployable') {
      send(404, '{"error":"unknown"}', 'application/json');
      return;
    }
    // Neither path is what P2 would derive (<location>.sig): only the registry's answer leads there.
    send(
      200,
      JSON.stringify({
        location: `${registryUrl}/blobs/${artifactSha}`,
        signature_location: `${registryUrl}/signatures/${version}/build.sig`,
      }),
      'application/json',
    );
    return;
  }
  if (url.pathname === `/blobs/${artifactSha}`) send(200, artifact);
  else if (url.pathname === '/signatures/v1/build.sig') send(200, signature);
  else if (url.pathname === '/signatures/tampered/build.sig') send(200, tamperedSignature);
  else send(404, 'not found');
}

function manifestFor(version: string, port: number, extra = ''): Manifest {
  return parseManifest(
    [
      `id: ${podId}`,
      extra,
      'launchables:',
      '  app:',
      '    launchable_type: hoist',
      '    restart_timeout: 5s',
      '    version:',
      `      id: ${version}`,
      '      tags:',
      '        directory: deployable',
      'config:',
      `  port: ${port}`,
      '  greeting: hello through the registry',
      'status:',
      '  http: true',
      `  port: ${port}`,
      '',
    ]
      .filter((line) => line !== '')
      .join('\n'),
  );
}

async function hostWith(options: Partial<PodHostOptions>): Promise<PodHost> {
  const verifier = withCompanionFiles(
    await createArtifactVerifier('build', {
      keyring: join(fixtures, 'keys/p2universe-pubring.gpg'),
    }),
    (url) => fetchBytes(url, fast).then((bytes) => new Uint8Array(bytes)),
  );
  return new PodHost({
    podRoot: join(work, 'pods'),
    nodeName: node,
    runsvdir,
    cgroups: cgroupsAvailable ? await detectCgroups() : false,
    artifactVerifier: verifier,
    artifactRegistry: registryUrl,
    osVersionFile,
    fetch: fast,
    ...options,
  });
}

async function get(port: number): Promise<string> {
  for (let i = 0; i < 100; i++) {
    try {
      return await (await fetch(`http://127.0.0.1:${port}/`)).text();
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`nothing answered on port ${port}`);
}

/** The pod's install fails; returns the cause's code (the hoist error under the PodError). */
async function installFailure(host: PodHost, manifest: Manifest): Promise<string> {
  const error = (await host.install(manifest).catch((e: unknown) => e)) as {
    code?: string;
    details?: { causeCode?: string };
    message?: string;
  };
  expect(error?.code, String(error?.message)).toBe('P2_PODS_INSTALL_FAILED');
  return String(error.details?.causeCode);
}

beforeAll(async () => {
  if (!asRoot) return;
  work = await mkdtemp(join(tmpdir(), 'p2t-registry-'));
  await chmod(work, 0o755);
  await mkdir(join(work, 'gnupg'), { mode: 0o700 });
  await mkdir(join(work, 'os'), { mode: 0o755 });
  // P2's integration release file: the registry is told os=CentOS, os_version=7.4.1708.
  osVersionFile = join(work, 'os', 'redhat-release');
  await copyFile(join(fixtures, 'os/redhat-release'), osVersionFile);

  artifact = await packArtifact(helloApp);
  artifactSha = createHash('sha256').update(artifact).digest('hex');
  await copyFile(join(fixtures, 'keys/p2universe-secring.gpg'), join(work, 'secring.gpg'));
  await gpg('--import', join(work, 'secring.gpg'));
  const blob = join(work, 'artifact.tar.gz');
  await writeFile(blob, artifact);
  await gpg('--detach-sign', '--output', `${blob}.sig`, blob);
  signature = await readFile(`${blob}.sig`);
  await writeFile(`${blob}.other`, 'another build');
  await gpg('--detach-sign', '--output', `${blob}.other.sig`, `${blob}.other`);
  tamperedSignature = await readFile(`${blob}.other.sig`);

  registry = createServer(serveRegistry);
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
  registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
  runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 1 });
  await runsvdir.start();
}, 60_000);

afterAll(async () => {
  if (!asRoot) return;
  registry?.close();
  await cleanUpHostTest({ runsvdir, node, pods: [podId], users: [podId], dir: work });
});

describe.runIf(asRoot)('a version: launchable deployed through an artifact registry', () => {
  it('asks the registry, verifies the signature it names, installs as <launchable>_<version> and runs the app', async () => {
    const host = await hostWith({});
    const port = await freePort();
    seen.length = 0;
    const result = await deployPod({ host }, manifestFor('v1', port), { whenRunning: 'redeploy' });
    if (result.outcome !== 'deployed') throw new Error(`not deployed: ${result.outcome}`);
    const [app] = result.installed.launchables;
    expect(app?.installDir).toBe(join(host.layout({ podId }).installsDir('app'), 'app_v1'));
    expect(app?.location).toBe(`${registryUrl}/blobs/${artifactSha}`);
    expect(seen.map((u) => u.pathname + u.search)).toEqual([
      `/discover/${podId}?directory=deployable&artifact_name=app&os=CentOS&os_version=7.4.1708&version=v1`,
      `/blobs/${artifactSha}`,
      '/signatures/v1/build.sig',
    ]);
    expect(await get(port)).toBe('hello through the registry\n');
    const launchable = join(host.layout({ podId }).home, 'app');
    expect(await readFile(join(launchable, 'env', 'LAUNCHABLE_ROOT'), 'utf8')).toBe(
      join(launchable, 'installs', 'app_v1'),
    );

    // The same version again: installed already, so the registry is not asked.
    seen.length = 0;
    const again = await deployPod({ host }, manifestFor('v1', port), { whenRunning: 'redeploy' });
    if (again.outcome !== 'deployed') throw new Error(`not deployed: ${again.outcome}`);
    expect(again.installed.launchables[0]?.alreadyInstalled).toBe(true);
    expect(seen).toEqual([]);
  });

  it('refuses an artifact whose registry-named signature does not verify; nothing is installed', async () => {
    const host = await hostWith({});
    const code = await installFailure(host, manifestFor('tampered', await freePort()));
    expect(code).toBe(HoistErrorCodes.VERIFICATION_FAILED);
    expect(existsSync(join(host.layout({ podId }).installsDir('app'), 'app_tampered'))).toBe(false);
  });

  it("the manifest's artifact_registry wins over the host's", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const host = await hostWith({ artifactRegistry: dead });
    const manifest = manifestFor(
      'v1',
      await freePort(),
      `artifact_registry: ${registryUrl}/any/path`,
    );
    seen.length = 0;
    const installed = await host.install(manifest);
    expect(installed.launchables[0]?.alreadyInstalled).toBe(true); // v1 is installed: nobody asked
    expect(seen).toEqual([]);
    // A version not installed yet is looked up at the manifest's registry (path replaced).
    expect(
      await installFailure(
        host,
        manifestFor('v9', await freePort(), `artifact_registry: ${registryUrl}/any/path`),
      ),
    ).toBe(HoistErrorCodes.REGISTRY_NOT_FOUND);
    expect(seen.map((u) => u.pathname)).toEqual([`/discover/${podId}`]);
    // The host's registry alone: it is down.
    expect(await installFailure(host, manifestFor('v9', await freePort()))).toBe(
      HoistErrorCodes.REGISTRY_UNAVAILABLE,
    );
  });

  it('fails clearly without a registry, when the version is unknown, and without an OS release file', async () => {
    const port = await freePort();
    expect(
      await installFailure(
        await hostWith({ artifactRegistry: undefined }),
        manifestFor('v2', port),
      ),
    ).toBe(HoistErrorCodes.REGISTRY_MISSING);
    expect(await installFailure(await hostWith({}), manifestFor('v2', port))).toBe(
      HoistErrorCodes.REGISTRY_NOT_FOUND,
    );
    seen.length = 0;
    const noOs = await hostWith({ osVersionFile: join(work, 'os', 'missing-release') });
    const error = (await noOs.install(manifestFor('v2', port)).catch((e: unknown) => e)) as {
      details: { causeCode: string };
      hint?: string;
    };
    expect(error.details.causeCode).toBe(HoistErrorCodes.OS_RELEASE_INVALID);
    expect(error.hint).toContain('os_version_file');
    expect(seen).toEqual([]); // nothing was asked with a guessed OS
  });
});
