/**
 * A pod's life on this host, for real: runit, a Unix user, cgroups, an artifact served over HTTP.
 * Needs root. Every name starts with p2t- and everything is removed afterwards.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cgroupName, detectCgroups, openCgroup } from '@p2/cgroups';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { RunsvDir, readStatus } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodHost } from './pod-host.js';

const run = promisify(execFile);
const helloApp = new URL('../../../examples/hello-app', import.meta.url).pathname;
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-pod-${suffix}`;
const node = `p2t-node-${suffix}`;

let work: string;
let server: Server;
let baseUrl: string;
let runsvdir: RunsvDir;
let host: PodHost;
const cgroupsAvailable = existsSync('/sys/fs/cgroup/memory');

async function artifact(greetingFile: string): Promise<{ url: string; version: string }> {
  const src = join(work, `src-${greetingFile}`);
  await cp(helloApp, src, { recursive: true });
  await writeFile(join(src, 'VERSION'), greetingFile);
  const version = createHash('sha1').update(greetingFile).digest('hex');
  const name = `hello_${version}.tar.gz`;
  await run('tar', ['-czf', join(work, 'artifacts', name), '-C', src, '.']);
  return { url: `${baseUrl}/${name}`, version };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

function manifestFor(location: string, port: number, greeting: string): Manifest {
  return new ManifestBuilder()
    .setId(podId)
    .setLaunchable('app', { launchableType: 'hoist', location, restartTimeout: '5s' })
    .setConfig({ port, greeting })
    .setStatusPort(port)
    .setStatusHttp(true)
    .build();
}

async function get(port: number, path = '/'): Promise<string> {
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return await res.text();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing answered on port ${port}`);
}

async function pidOf(serviceDir: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const status = await readStatus(serviceDir);
    if (status.state === 'run' && status.pid) return status.pid;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${serviceDir} is not running`);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-pods-'));
  await run('mkdir', ['-p', join(work, 'artifacts'), join(work, 'pods'), join(work, 'service')]);
  await chmod(work, 0o755);
  server = createServer((req, res) => {
    const path = join(work, 'artifacts', (req.url ?? '/').slice(1));
    stat(path).then(
      (info) => {
        res.writeHead(200, { 'content-length': info.size });
        createReadStream(path).pipe(res);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 2 });
  await runsvdir.start();
  host = new PodHost({
    podRoot: join(work, 'pods'),
    nodeName: node,
    runsvdir,
    cgroups: cgroupsAvailable ? await detectCgroups() : false,
  });
});

afterAll(async () => {
  await runsvdir?.stop({ stopServices: true }).catch(() => undefined);
  server?.close();
  if (cgroupsAvailable) {
    await openCgroup(await detectCgroups(), { name: `p2/${node}` })
      .remove({ kill: true })
      .catch(() => undefined);
  }
  if (await findUser(podId)) await removeUser(podId, { removeGroup: true });
  await rm(work, { recursive: true, force: true });
});

describe('PodHost on a real host', () => {
  it('installs, launches, updates, halts and uninstalls a pod', async () => {
    const port = await freePort();
    const v1 = await artifact('v1');
    const m1 = manifestFor(v1.url, port, 'hello v1');

    const installed = await host.install(m1);
    expect(installed.launchables[0]?.alreadyInstalled).toBe(false);
    const layout = host.layout({ podId });
    const user = await findUser(podId);
    expect(user).toBeDefined();
    // The config file the app reads, and the env dirs P2 wrote.
    const configPath = await readFile(join(layout.envDir, 'CONFIG_PATH'), 'utf8');
    expect(await readFile(configPath, 'utf8')).toContain(`port: ${port}`);
    expect(await readFile(join(layout.launchableEnvDir('app'), 'RESTART_TIMEOUT'), 'utf8')).toBe(
      '5',
    );
    expect((await stat(join(layout.installDir('app', v1.version), 'bin/launch'))).uid).toBe(
      user?.uid,
    );

    const launched = await host.launch(m1);
    expect(launched.services).toEqual([`${podId}__app__launch`]);
    expect(launched.scripts.map((s) => [s.script, s.result.exitCode])).toEqual([['bin/enable', 0]]);
    expect(launched.scripts[0]?.result.output).toContain(`hello: enabled (pod ${podId})`);
    expect(await get(port)).toBe('hello v1\n');
    expect(await readlink(layout.currentLink('app'))).toContain(`app_${v1.version}`);
    expect(await readFile(layout.currentManifestPath)).toEqual(Buffer.from(m1.raw));

    const serviceDir = join(runsvdir.root, `${podId}__app__launch`);
    const pid = await pidOf(serviceDir);
    const procStatus = await readFile(`/proc/${pid}/status`, 'utf8');
    expect(procStatus).toMatch(new RegExp(`^Uid:\\s+${user?.uid}\\s`, 'm'));
    if (cgroupsAvailable) {
      const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8');
      expect(cgroups).toContain(`/${cgroupName({ node, pod: podId, launchable: 'app' })}`);
    }

    // Re-installing the same version downloads nothing.
    expect((await host.install(m1)).launchables[0]?.alreadyInstalled).toBe(true);

    // An update: new artifact and new config; the service restarts on the new version.
    const v2 = await artifact('v2');
    const m2 = manifestFor(v2.url, port, 'hello v2');
    await host.install(m2);
    await host.halt(m1);
    await host.launch(m2);
    expect(await get(port)).toBe('hello v2\n');
    expect(await readlink(layout.lastLink('app'))).toContain(`app_${v1.version}`);
    expect(await readlink(layout.currentLink('app'))).toContain(`app_${v2.version}`);
    expect((await host.installedPods()).map((p) => p.manifest?.sha())).toEqual([m2.sha()]);

    await host.halt(m2, { force: true });
    expect((await readStatus(serviceDir)).state).toBe('down');

    await host.uninstall({ podId });
    expect(existsSync(layout.home)).toBe(false);
    expect(existsSync(serviceDir)).toBe(false);
    expect(await host.installedPods()).toEqual([]);
  });

  it('refuses an artifact that cannot be downloaded, leaving nothing running', async () => {
    const port = await freePort();
    const bad = manifestFor(`${baseUrl}/missing_${'0'.repeat(40)}.tar.gz`, port, 'x');
    const error = await host.install(bad).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'P2_PODS_INSTALL_FAILED' });
    expect(String((error as Error).message)).toContain('missing_');
    expect(
      existsSync(join(host.layout({ podId }).installsDir('app'), `app_${'0'.repeat(40)}`)),
    ).toBe(false);
    expect(await host.podServices(host.layout({ podId }))).toEqual([]);
    await host.uninstall({ podId });
  });

  it('refuses launchable types it cannot run', async () => {
    const m = new ManifestBuilder()
      .setId(podId)
      .setLaunchable('c', { launchableType: 'docker', image: { name: 'a/b/c', sha256: 'x' } })
      .build();
    await expect(host.install(m)).rejects.toMatchObject({ code: 'P2_PODS_UNSUPPORTED_LAUNCHABLE' });
  });
});

describe('PodHost refuses a pod root its users cannot reach', () => {
  it('names the directory and the fix', async () => {
    const hidden = await mkdtemp(join(tmpdir(), 'p2t-hidden-'));
    try {
      const blocked = new PodHost({
        podRoot: join(hidden, 'pods'),
        nodeName: node,
        runsvdir,
        cgroups: false,
      });
      const m = new ManifestBuilder().setId(podId).build();
      const error = await blocked.install(m).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'P2_PODS_INSTALL_FAILED' });
      expect((error as { hint: string }).hint).toContain(`chmod o+x ${hidden}`);
    } finally {
      await rm(hidden, { recursive: true, force: true });
    }
  });
});
