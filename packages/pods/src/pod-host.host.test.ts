/**
 * A pod's life on this host, for real: runit, a Unix user, cgroups, an artifact served over HTTP.
 * Needs root. Every name starts with p2t- and everything is removed afterwards.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import {
  chmod,
  cp,
  lstat,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { detectCgroups } from '@p2/cgroups';
import { type Manifest, ManifestBuilder } from '@p2/manifest';
import { RunsvDir, readStatus, restart } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUpHostTest, freePort } from '../../../test-support/host-test.js';
import { until } from '../../../test-support/until.js';
import type { PodError } from './errors.js';
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
      await sleep(100);
    }
  }
  throw new Error(`nothing answered on port ${port}`);
}

async function pidOf(serviceDir: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const status = await readStatus(serviceDir);
    if (status.state === 'run' && status.pid) return status.pid;
    await sleep(100);
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
  server?.close();
  await cleanUpHostTest({ runsvdir, node, pods: [podId], users: [podId], dir: work });
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
    // Everything root reads, runs or links to is root's; the pod owns only data/ and its secrets.
    const launch = await stat(join(layout.installDir('app', v1.version), 'bin/launch'));
    expect(launch.uid).toBe(0);
    expect(launch.mode & 0o022).toBe(0);
    for (const dir of [
      layout.home,
      layout.configDir,
      layout.envDir,
      layout.launchableRoot('app'),
    ]) {
      const info = await stat(dir);
      expect([dir, info.uid, info.mode & 0o777]).toEqual([dir, 0, 0o755]);
    }
    const data = await stat(layout.dataDir);
    expect([data.uid, data.mode & 0o777]).toEqual([user?.uid, 0o700]);
    expect(await readFile(join(layout.envDir, 'POD_DATA_DIR'), 'utf8')).toBe(layout.dataDir);
    expect(await readFile(join(layout.envDir, 'HOME'), 'utf8')).toBe(layout.dataDir);
    const secret = await stat(configPath);
    expect([secret.uid, secret.mode & 0o777]).toEqual([user?.uid, 0o400]);
    const envFile = await stat(join(layout.launchableEnvDir('app'), 'RESTART_TIMEOUT'));
    expect([envFile.uid, envFile.mode & 0o777]).toEqual([user?.uid, 0o400]);

    const launched = await host.launch(m1);
    expect(launched.services).toEqual([`${podId}__app__launch`]);
    expect(launched.scripts.map((s) => [s.script, s.result.exitCode])).toEqual([['bin/enable', 0]]);
    expect(launched.scripts[0]?.result.output).toContain(`hello: enabled (pod ${podId})`);
    expect(await get(port)).toBe('hello v1\n');
    expect(await readlink(layout.currentLink('app'))).toContain(`app_${v1.version}`);
    expect(await readFile(layout.currentManifestPath)).toEqual(Buffer.from(m1.raw));
    const current = await stat(layout.currentManifestPath);
    expect([current.uid, current.mode & 0o777]).toEqual([0, 0o600]);

    const serviceDir = join(runsvdir.root, `${podId}__app__launch`);
    const pid = await pidOf(serviceDir);
    const procStatus = await readFile(`/proc/${pid}/status`, 'utf8');
    expect(procStatus).toMatch(new RegExp(`^Uid:\\s+${user?.uid}\\s`, 'm'));
    if (cgroupsAvailable) {
      const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8');
      expect(cgroups).toContain(`/${podId}__app\n`);
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

  it("plans p2 exec as the pod's services run, under the require file they check", async () => {
    const port = await freePort();
    const v1 = await artifact('v1');
    const m = manifestFor(v1.url, port, 'exec');
    const requireFile = join(work, 'may-run');
    await writeFile(requireFile, '');
    // The preparer's host knows the require file; `p2 exec`'s host does not, and finds it recorded
    // with the launchable's service.
    const guarded = new PodHost({
      podRoot: join(work, 'pods'),
      nodeName: node,
      runsvdir,
      cgroups: cgroupsAvailable ? await detectCgroups() : false,
      requireFile,
    });
    await guarded.install(m);
    await guarded.launch(m);
    try {
      const plan = await host.execPlan(m, { command: ['/bin/sh', '-c', 'id -u; echo "$POD_ID"'] });
      expect(plan).toMatchObject({ pod: podId, launchableId: 'app', requireFile, file: '/bin/sh' });
      expect(plan.env).toEqual({ PATH: expect.any(String) });
      const { stdout } = await run(plan.file, plan.args, { env: plan.env });
      expect(stdout).toBe(`${(await findUser(podId))?.uid}\n${podId}\n`);
      await rm(requireFile);
      await expect(host.execPlan(m, { command: ['/bin/true'] })).rejects.toMatchObject({
        code: 'P2_PODS_REQUIRE_FILE_MISSING',
      });
      await expect(
        host.execPlan(m, { launchableId: 'other', command: ['/bin/true'] }),
      ).rejects.toMatchObject({ code: 'P2_PODS_NO_SUCH_LAUNCHABLE' });
    } finally {
      await host.uninstall({ podId });
    }
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
    // docker is refused with what to use instead.
    await expect(host.install(m)).rejects.toMatchObject({
      code: 'P2_PODS_UNSUPPORTED_LAUNCHABLE',
      hint: expect.stringContaining('launchable_type: opencontainer'),
    });
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

/** An artifact built from the hello app with some files replaced. */
async function customArtifact(
  tag: string,
  files: Record<string, string>,
): Promise<{ url: string; version: string }> {
  const src = join(work, `src-${tag}`);
  await cp(helloApp, src, { recursive: true });
  for (const [path, body] of Object.entries(files))
    await writeFile(join(src, path), body, { mode: 0o755 });
  const version = createHash('sha1').update(tag).digest('hex');
  const name = `hello_${version}.tar.gz`;
  await run('tar', ['-czf', join(work, 'artifacts', name), '-C', src, '.']);
  return { url: `${baseUrl}/${name}`, version };
}

describe('PodHost holds the privilege boundary against its own pods', () => {
  const other = `p2t-oth-${suffix}`;
  const outside = () => join(work, 'outside');

  beforeAll(async () => {
    await run('mkdir', ['-p', outside()]);
    await writeFile(join(outside(), 'precious'), 'root data\n', { mode: 0o644 });
  });

  afterAll(async () => {
    await host.uninstall({ podId: other }).catch(() => undefined);
    if (await findUser(other)) await removeUser(other, { removeGroup: true });
  });

  it('lays out afresh a home its pod owns, never following what the pod planted there', async () => {
    const port = await freePort();
    const v1 = await artifact('v1');
    const m = manifestFor(v1.url, port, 'x');
    const layout = host.layout({ podId });
    await host.install(m);
    // An older p2 chowned the home to the pod; a hostile pod then links root's paths elsewhere.
    const uid = (await findUser(podId))?.uid as number;
    await rm(layout.configDir, { recursive: true });
    await symlink(outside(), layout.configDir);
    await run('chown', ['-h', `${uid}:${uid}`, layout.home, layout.configDir]);
    await writeFile(layout.currentManifestPath, 'id: evil\nrun_as: root\n');
    await expect(host.currentManifest(layout)).rejects.toMatchObject({
      code: 'P2_PODS_UNTRUSTED_PATH',
    });
    await host.install(m);
    expect((await lstat(layout.configDir)).isSymbolicLink()).toBe(false);
    expect((await stat(layout.home)).uid).toBe(0);
    expect((await readdir(outside())).sort()).toEqual(['precious']);
    expect(await readFile(join(outside(), 'precious'), 'utf8')).toBe('root data\n');
    expect((await stat(outside())).uid).toBe(0);
    await host.uninstall({ podId });
  });

  it('reads current_manifest.yaml only as a root-owned regular file: a FIFO or a link never blocks or redirects', async () => {
    const port = await freePort();
    const m = manifestFor((await artifact('v1')).url, port, 'x');
    const layout = host.layout({ podId });
    await host.install(m);
    await host.launch(m);
    expect((await host.currentManifest(layout))?.sha()).toBe(m.sha());
    await rm(layout.currentManifestPath);
    await run('mkfifo', [layout.currentManifestPath]);
    const started = Date.now();
    await expect(host.currentManifest(layout)).rejects.toMatchObject({
      code: 'P2_PODS_UNTRUSTED_PATH',
    });
    expect(Date.now() - started).toBeLessThan(2000);
    await rm(layout.currentManifestPath);
    await symlink(join(outside(), 'precious'), layout.currentManifestPath);
    const linked = await host.currentManifest(layout).catch((e: unknown) => e as Error);
    expect(linked).toMatchObject({ code: 'P2_PODS_UNTRUSTED_PATH' });
    expect(String((linked as Error).message)).not.toContain('root data');
    await host.uninstall({ podId });
    expect(await readFile(join(outside(), 'precious'), 'utf8')).toBe('root data\n');
  });

  it('uninstalls without following links the pod left in its data dir', async () => {
    const port = await freePort();
    const m = manifestFor((await artifact('v1')).url, port, 'x');
    const layout = host.layout({ podId });
    await host.install(m);
    await symlink(outside(), join(layout.dataDir, 'escape'));
    await symlink(join(outside(), 'precious'), join(layout.dataDir, 'file'));
    await host.uninstall({ podId });
    expect(existsSync(layout.home)).toBe(false);
    expect(await readFile(join(outside(), 'precious'), 'utf8')).toBe('root data\n');
  });

  it.each([
    ['root', 'root', /it is root/],
    ['the log user', 'nobody', /every service log/],
    ['a system account', 'daemon', /below run_as_min_uid 1000/],
  ])('refuses run_as %s before touching the host', async (_what, user, why) => {
    const m = new ManifestBuilder()
      .setId(other)
      .setRunAs(user)
      .setLaunchable('app', { launchableType: 'hoist', location: `${baseUrl}/none.tar.gz` })
      .build();
    const error = (await host.install(m).catch((e: unknown) => e)) as PodError;
    expect(error).toMatchObject({ code: 'P2_PODS_RUN_AS_REFUSED' });
    expect(error.message).toMatch(why);
    expect(error.hint).toContain('run_as_allow');
    expect(existsSync(host.layout({ podId: other }).home)).toBe(false);
  });

  it("refuses another pod's user, and opens exceptions only through the allowlist", async () => {
    const port = await freePort();
    const mine = manifestFor((await artifact('v1')).url, port, 'x');
    await host.install(mine); // creates user podId, whose home is podId's
    const thief = new ManifestBuilder()
      .setId(other)
      .setRunAs(podId)
      .setLaunchable('app', { launchableType: 'hoist', location: `${baseUrl}/none.tar.gz` })
      .build();
    await expect(host.install(thief)).rejects.toMatchObject({
      code: 'P2_PODS_RUN_AS_REFUSED',
      message: expect.stringContaining(`user of pod ${podId}`),
    });
    const lenient = new PodHost({
      podRoot: join(work, 'pods'),
      nodeName: node,
      runsvdir,
      cgroups: false,
      runAs: { allow: { [other]: ['daemon'] } },
    });
    const daemon = new ManifestBuilder().setId(other).setRunAs('daemon').build();
    await expect(lenient.checkRunAs(daemon)).resolves.toMatchObject({ name: 'daemon' });
    await expect(host.checkRunAs(daemon)).rejects.toMatchObject({ code: 'P2_PODS_RUN_AS_REFUSED' });
    await host.uninstall({ podId });
  });

  it('checks launchable ids before any path is made', async () => {
    const m = new ManifestBuilder()
      .setId(other)
      .setLaunchable('../../../outside', {
        launchableType: 'hoist',
        location: `${baseUrl}/x.tar.gz`,
      })
      .build();
    await expect(host.install(m)).rejects.toMatchObject({ code: 'P2_PODS_INVALID_LAUNCHABLE_ID' });
    expect(existsSync(host.layout({ podId: other }).home)).toBe(false);
    expect(() => host.layout({ podId: 'a__b' })).toThrowError(
      expect.objectContaining({ code: 'P2_PODS_INVALID_POD_ID' }),
    );
  });

  it('runs lifecycle scripts as the pod, in its cgroup, with secrets only it can read', async () => {
    const port = await freePort();
    const marker = join(work, `enable-${suffix}`);
    const v = await customArtifact('scripts', {
      'bin/enable': `#!/bin/sh\nid -u > ${marker}.uid\ncat /proc/self/cgroup > ${marker}.cgroup\nsetsid sleep 1234 < /dev/null > /dev/null 2>&1 &\n`,
    });
    await chmod(work, 0o777);
    try {
      const m = manifestFor(v.url, port, 'x');
      const layout = host.layout({ podId });
      await host.install(m);
      await host.launch(m);
      const uid = (await findUser(podId))?.uid;
      expect((await readFile(`${marker}.uid`, 'utf8')).trim()).toBe(String(uid));
      if (cgroupsAvailable)
        expect(await readFile(`${marker}.cgroup`, 'utf8')).toContain(`/${podId}__app\n`);
      // Another unprivileged account reads none of the pod's secrets.
      const configPath = await readFile(join(layout.envDir, 'CONFIG_PATH'), 'utf8');
      for (const secret of [
        configPath,
        join(layout.envDir, 'CONFIG_PATH'),
        layout.currentManifestPath,
      ]) {
        const read = await run('setpriv', [
          '--reuid=nobody',
          '--regid=nogroup',
          '--clear-groups',
          'cat',
          secret,
        ]).then(
          () => 'read',
          () => 'denied',
        );
        expect([secret, read]).toEqual([secret, 'denied']);
      }
      const leftover = async () =>
        (await run('pgrep', ['-f', '^sleep 1234$']).catch(() => ({ stdout: '' }))).stdout.trim();
      if (cgroupsAvailable) expect(await leftover()).not.toBe('');
      await host.uninstall({ podId });
      if (cgroupsAvailable) expect(await leftover()).toBe('');
    } finally {
      await chmod(work, 0o755);
      await run('pkill', ['-f', '^sleep 1234$']).catch(() => undefined);
    }
  });
});

describe("PodHost runs the host's log and finish commands (log_exec, log_bridge_blacklist, finish_exec)", () => {
  const logged = `p2t-lg-${suffix}`;
  const plain = `p2t-bl-${suffix}`;
  const dirOf = (id: string) => join(work, 'service', `${id}__app__launch`);
  const mainOf = (id: string) => join(dirOf(id), 'log/main');

  function podManifest(id: string, location: string): Manifest {
    return new ManifestBuilder()
      .setId(id)
      .setLaunchable('app', { launchableType: 'hoist', location, restartTimeout: '5s' })
      .build();
  }

  afterAll(async () => {
    for (const id of [logged, plain]) {
      await host.uninstall({ podId: id }).catch(() => undefined);
      if (await findUser(id)) await removeUser(id, { removeGroup: true });
    }
  });

  it('pipes each service through log_exec as nobody, with who it is but none of its secrets; blacklisted pods get svlogd', async () => {
    // What the log command got, who ran it and with what environment, in ./main (nobody's 0700).
    const logCommand = join(work, 'log-to-file');
    await writeFile(
      logCommand,
      '#!/bin/sh\n{ id -u; env; } > ./main/context\nexec cat >> ./main/got\n',
      { mode: 0o755 },
    );
    const finishCommand = join(work, 'finish-to-file');
    await writeFile(
      finishCommand,
      '#!/bin/sh\necho "$(id -u) $P2_SERVICE $P2_EXIT_CODE" >> ./log/main/exits\n',
      {
        mode: 0o755,
      },
    );
    // A hostile pod: binary garbage, a 1 MiB line without a newline, then a line we look for.
    const hostile = await customArtifact('hostile-output', {
      'bin/launch':
        '#!/bin/sh\necho "first line"\nhead -c 65536 /dev/urandom\nhead -c 1048576 /dev/zero | tr "\\0" x\necho\necho "after the garbage"\nexec sleep 1000\n',
    });
    const helpers = {
      logExec: [logCommand],
      logBridgeBlacklist: [plain],
      finishExec: [finishCommand],
    };
    const configured = new PodHost({
      podRoot: join(work, 'pods'),
      nodeName: node,
      runsvdir,
      cgroups: cgroupsAvailable ? await detectCgroups() : false,
      serviceHelpers: helpers,
    });
    for (const id of [logged, plain]) {
      await configured.install(podManifest(id, hostile.url));
      await configured.launch(podManifest(id, hostile.url));
    }

    const got = await until('the last line through the log command', async () => {
      const bytes = await readFile(join(mainOf(logged), 'got'));
      return bytes.includes('after the garbage\n') ? bytes : undefined;
    });
    expect(got.subarray(0, 11).toString()).toBe('first line\n');
    expect(got.length).toBeGreaterThan(65536 + 1048576);
    const context = (await readFile(join(mainOf(logged), 'context'), 'utf8')).split('\n');
    expect(context[0]).toBe('65534');
    expect(context).toEqual(
      expect.arrayContaining([
        `POD_ID=${logged}`,
        `POD_HOME=${host.layout({ podId: logged }).home}`,
        'LAUNCHABLE_ID=app',
        'ENTRY_POINT=bin/launch',
        `P2_SERVICE=${logged}__app__launch`,
        `P2_NODE=${node}`,
      ]),
    );
    // The pod's env dirs (its config path, its secrets) are the pod's alone.
    expect(context.filter((l) => /^(CONFIG_PATH|HOME|POD_DATA_DIR)=/.test(l))).toEqual([]);
    const logPid = (await readStatus(dirOf(logged))).log?.pid as number;
    expect(await readFile(`/proc/${logPid}/status`, 'utf8')).toMatch(
      /\nUid:\t65534\t65534\t65534\t65534\n/,
    );

    // The blacklisted pod: plain svlogd, which got its lines too.
    expect(await readFile(join(dirOf(plain), 'log/run'), 'utf8')).toContain(
      'exec chpst -u nobody svlogd -tt ./main',
    );
    await until('svlogd line', async () =>
      (await readFile(join(mainOf(plain), 'current'), 'utf8')).includes('after the garbage')
        ? true
        : undefined,
    );

    // finish_exec runs after an exit, as nobody.
    await restart(dirOf(logged), { timeoutMs: 5000 });
    const exits = await until('finish command', async () =>
      readFile(join(mainOf(logged), 'exits'), 'utf8'),
    );
    expect(exits.split('\n')[0]).toMatch(new RegExp(`^65534 ${logged}__app__launch -1$`));

    // A changed log_exec takes effect at the pod's next launch: the log service is restarted.
    const second = join(work, 'log-to-file-2');
    await writeFile(second, '#!/bin/sh\nexec cat >> ./main/got-2\n', { mode: 0o755 });
    const changed = new PodHost({
      podRoot: join(work, 'pods'),
      nodeName: node,
      runsvdir,
      cgroups: cgroupsAvailable ? await detectCgroups() : false,
      serviceHelpers: { ...helpers, logExec: [second] },
    });
    await changed.launch(podManifest(logged, hostile.url));
    const newLogPid = (await readStatus(dirOf(logged))).log?.pid as number;
    expect(newLogPid).not.toBe(logPid);
    await until('lines through the new log command', async () =>
      (await readFile(join(mainOf(logged), 'got-2'), 'utf8')).includes('after the garbage')
        ? true
        : undefined,
    );
    // A tool that does not read the preparer's config (p2 restart) keeps the log command.
    await host.launch(podManifest(logged, hostile.url));
    expect(await readFile(join(dirOf(logged), 'log/run'), 'utf8')).toContain(second);
    expect((await readStatus(dirOf(logged))).log?.pid).toBe(newLogPid);
  });
});
