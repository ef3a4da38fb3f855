/**
 * `p2 launch` for real: runit, a Unix user, cgroups, the hello app served over loopback HTTP.
 * Needs root. Every name starts with p2t- and everything is removed afterwards.
 */

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ExitCode } from '@p2/cli-kit';
import { findUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture, removeLaunched } from '../../test-support.js';

const run = promisify(execFile);
const helloApp = new URL('../../../../../examples/hello-app', import.meta.url).pathname;
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-launch-${suffix}`;
const node = `p2t-node-${suffix}`;
let work = '';
let server: Server;
let port = 0;
let version = '';
const discoveries: string[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port: p } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return p;
}

async function p2(args: string[], isTTY = false) {
  const io = capture(isTTY);
  const code = await runCli(args, { io, cwd: work, env: {} });
  return { code, out: io.out, err: io.err };
}

/** The launched app's pid, as its /_status says (undefined while it does not answer). */
const answer = () =>
  fetch(`http://127.0.0.1:${port}/_status`).then(
    async (res) => ((await res.json()) as { pid: number }).pid,
    () => undefined,
  );

/** The app's pid once `want` holds for it (or the last answer, after 10 s). */
async function eventually(want: (pid: number | undefined) => boolean) {
  let pid = await answer();
  for (let i = 0; i < 100 && !want(pid); i++) {
    await new Promise((r) => setTimeout(r, 100));
    pid = await answer();
  }
  return pid;
}

const common = () => [
  '--pod-root',
  join(work, 'pods'),
  '--service-root',
  join(work, 'service'),
  '--node-name',
  node,
];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-launch-'));
  await chmod(work, 0o755);
  await mkdir(join(work, 'artifacts'));
  version = createHash('sha1').update(suffix).digest('hex');
  await run('tar', [
    '-czf',
    join(work, 'artifacts', `hello_${version}.tar.gz`),
    '-C',
    helloApp,
    '.',
  ]);
  server = createServer((req, res) => {
    // An artifact registry too: /discover/<pod>?…&version=V answers where hello_V.tar.gz is.
    const url = new URL(req.url ?? '/', 'http://registry');
    if (url.pathname.startsWith('/discover/')) {
      discoveries.push(url.pathname + url.search);
      const found = `hello_${url.searchParams.get('version')}.tar.gz`;
      if (!existsSync(join(work, 'artifacts', found))) {
        res.writeHead(404);
        res.end();
        return;
      }
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ location: `${base}/${found}` }));
      return;
    }
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
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  port = await freePort();
  await writeFile(
    join(work, 'hello.yaml'),
    `id: ${podId}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${base}/hello_${version}.tar.gz\n    restart_timeout: 5s\nconfig:\n  port: ${port}\n  greeting: hello from p2 launch\nstatus:\n  http: true\n  port: ${port}\n`,
  );
});

afterAll(async () => {
  server?.close();
  await removeLaunched(work, node, {
    pods: [podId, `${podId}-root`],
    users: [podId, `${podId}-v`],
  });
});

describe('p2 launch', () => {
  it('--no-start installs with a progress bar on a terminal and switches current, starting nothing', async () => {
    const r = await p2(['launch', 'hello.yaml', ...common(), '--no-start'], true);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.err).toMatch(/app \[#+\] 100%/);
    expect(r.out).toContain(`\u001b[32minstalled\u001b[39m ${podId}`);
    const current = await readlink(join(work, 'pods', podId, 'app', 'current'));
    expect(current).toContain(`app_${version}`);
    expect(existsSync(join(work, 'pods', podId, 'current_manifest.yaml'))).toBe(false);
    expect(existsSync(join(work, 'service'))).toBe(false); // no runsvdir was started for an install
  });

  it('applies the preparer’s run_as policy: root is refused unless --allow-run-as opens it', async () => {
    const text = (await readFile(join(work, 'hello.yaml'), 'utf8')).replace(
      `id: ${podId}\n`,
      `id: ${podId}-root\nrun_as: root\n`,
    );
    await writeFile(join(work, 'root.yaml'), text);
    const refused = await p2(['launch', 'root.yaml', ...common(), '--no-start']);
    expect(refused.code).not.toBe(ExitCode.OK);
    expect(refused.err).toContain('may not run as "root"');
    expect(refused.err).toContain('run_as_allow');
    expect(existsSync(join(work, 'pods', `${podId}-root`))).toBe(false);
    const allowed = await p2([
      'launch',
      'root.yaml',
      ...common(),
      '--no-start',
      '--allow-run-as',
      'root',
    ]);
    expect(allowed.code, allowed.err).toBe(ExitCode.OK);
    await rm(join(work, 'pods', `${podId}-root`), { recursive: true, force: true });
  });

  it('launches the pod under runit as its own user; the app answers', async () => {
    const r = await p2(['launch', 'hello.yaml', ...common(), '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.err).toBe('');
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ pod: podId, node, started: true });
    expect(result.launchables[0]).toMatchObject({ id: 'app', alreadyInstalled: true });
    expect(result.services).toHaveLength(1);
    let body = '';
    for (let i = 0; i < 100 && body === ''; i++) {
      body = await fetch(`http://127.0.0.1:${port}/`).then(
        (res) => res.text(),
        () => new Promise<string>((r) => setTimeout(() => r(''), 100)),
      );
    }
    expect(body).toBe('hello from p2 launch\n');
    const status = (await fetch(`http://127.0.0.1:${port}/_status`).then((res) => res.json())) as {
      pod: string;
    };
    expect(status.pod).toBe(podId);
    expect(await findUser(podId)).toBeDefined();
  });

  it('p2 stop, start, restart and shutdown the launched pod (P2: p2-stop, p2-start, p2-restart, p2-shutdown)', async () => {
    const hosted = common();
    const before = await eventually((pid) => pid !== undefined);
    expect(before).toBeGreaterThan(0);

    const stopped = await p2(['stop', podId, ...hosted, '--json']);
    expect(stopped.code, stopped.err).toBe(ExitCode.OK);
    expect(JSON.parse(stopped.out)).toMatchObject({ pod: podId, action: 'stop', services: [] });
    expect(await eventually((pid) => pid === undefined)).toBeUndefined();

    const started = await p2(['start', podId, ...hosted]);
    expect(started.code, started.err).toBe(ExitCode.OK);
    expect(started.out).toContain(`started ${podId}`);
    const afterStart = await eventually((pid) => pid !== undefined);
    expect(afterStart).toBeGreaterThan(0);

    const restarted = await p2(['restart', podId, ...hosted, '--json']);
    expect(restarted.code, restarted.err).toBe(ExitCode.OK);
    expect(JSON.parse(restarted.out).services).toHaveLength(1);
    expect(await eventually((pid) => pid !== undefined && pid !== afterStart)).not.toBe(afterStart);

    const dry = await p2(['shutdown', ...hosted, '--dry-run', '--json']);
    expect(JSON.parse(dry.out)).toEqual({ pods: [podId], dryRun: true });
    expect(await answer()).toBeGreaterThan(0); // a dry run halts nothing
    const none = await p2(['shutdown', ...hosted, '--exclude', podId, '--json']);
    expect(JSON.parse(none.out).pods).toEqual([]);
    const down = await p2(['shutdown', ...hosted, '--pod', podId]);
    expect(down.code, down.err).toBe(ExitCode.OK);
    expect(down.out).toContain(`halted ${podId}`);
    expect(await eventually((pid) => pid === undefined)).toBeUndefined();
    expect((await p2(['start', podId, ...hosted])).code).toBe(ExitCode.OK);

    const missing = await p2(['stop', 'p2t-not-installed', ...hosted]);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(missing.err).toContain('p2t-not-installed is not installed');
  });

  it('--nested-cgroups and --cgroup-parent name the cgroups as the preparer’s params do', async () => {
    const hosted = common();
    const memoryCgroup = async (previous?: number) => {
      const pid = await eventually((p) => p !== undefined && p !== previous);
      if (pid === undefined || pid === previous) throw new Error('the pod does not answer');
      const line = (await readFile(`/proc/${pid}/cgroup`, 'utf8'))
        .split('\n')
        .find((l) => /^\d+:memory:/.test(l));
      return { pid, cgroup: line?.replace(/^\d+:memory:/, '') };
    };
    const flat = await memoryCgroup();
    expect(flat.cgroup).toBe(`/${podId}__app`);
    const nested = await p2(['restart', podId, ...hosted, '--nested-cgroups']);
    expect(nested.code, nested.err).toBe(ExitCode.OK);
    const moved = await memoryCgroup(flat.pid);
    expect(moved.cgroup).toBe(`/p2/${node}/${podId}/app`);
    expect(existsSync(`/sys/fs/cgroup/memory/${podId}__app`)).toBe(false); // emptied, removed
    const bad = await p2(['restart', podId, ...hosted, '--cgroup-parent', '../escape']);
    expect(bad.code).not.toBe(ExitCode.OK);
    expect(bad.err).toContain('../escape');
    const stopped = await p2(['stop', podId, ...hosted]);
    expect(stopped.code, stopped.err).toBe(ExitCode.OK);
    expect(existsSync(`/sys/fs/cgroup/memory/p2/${node}/${podId}`)).toBe(false);
    expect((await p2(['start', podId, ...hosted])).code).toBe(ExitCode.OK);
    expect((await memoryCgroup(moved.pid)).cgroup).toBe(`/${podId}__app`);
  });

  it('reads the manifest from a URL (P2: MANIFEST-URL); the same version is not downloaded again', async () => {
    await copyFile(join(work, 'hello.yaml'), join(work, 'artifacts', 'hello.yaml'));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hello.yaml`;
    const r = await p2(['launch', url, ...common(), '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out).launchables[0].alreadyInstalled).toBe(true);
    const missing = await p2(['launch', `${url}.missing`, ...common()]);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
  });

  it('refuses an unsigned manifest when a keyring is required, and an unreachable artifact', async () => {
    const fixtures = new URL(
      '../../../../../fixtures/p2/keys/p2universe-pubring.gpg',
      import.meta.url,
    ).pathname;
    const r = await p2(['launch', 'hello.yaml', ...common(), '--keyring', fixtures]);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('P2_AUTH_UNSIGNED');
    await writeFile(
      join(work, 'gone.yaml'),
      `id: ${podId}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: http://127.0.0.1:${(server.address() as AddressInfo).port}/hello_${'f'.repeat(40)}.tar.gz\n`,
    );
    const gone = await p2(['launch', 'gone.yaml', ...common(), '--no-start']);
    expect(gone.code).toBe(ExitCode.FAILURE);
    expect(gone.err).toMatch(/error: .*404/);
  });

  it('-r resolves a version: launchable through the artifact registry, with the OS of --os-version-file', async () => {
    const redhatRelease = new URL('../../../../../fixtures/p2/os/redhat-release', import.meta.url)
      .pathname;
    await mkdir(join(work, 'os'), { mode: 0o755 });
    await copyFile(redhatRelease, join(work, 'os', 'redhat-release'));
    await writeFile(
      join(work, 'version.yaml'),
      `id: ${podId}-v\nlaunchables:\n  app:\n    launchable_type: hoist\n    version:\n      id: ${version}\n      tags:\n        directory: deployable\n`,
    );
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const osFile = ['--os-version-file', join(work, 'os', 'redhat-release')];
    const missing = await p2(['launch', 'version.yaml', ...common(), '--no-start', ...osFile]);
    expect(missing.code).toBe(ExitCode.FAILURE);
    expect(missing.err).toContain('no artifact registry');
    expect(missing.err).toContain('--artifact-registry-url');

    const r = await p2([
      ...['launch', 'version.yaml', ...common(), '--no-start', '--json'],
      ...['--artifact-registry-url', base, ...osFile],
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    const result = JSON.parse(r.out);
    expect(result.launchables[0]).toMatchObject({
      id: 'app',
      installDir: join(work, 'pods', `${podId}-v`, 'app', 'installs', `app_${version}`),
      location: `${base}/hello_${version}.tar.gz`,
    });
    expect(discoveries).toEqual([
      `/discover/${podId}-v?directory=deployable&artifact_name=app&os=CentOS&os_version=7.4.1708&version=${version}`,
    ]);
    await rm(join(work, 'pods', `${podId}-v`), { recursive: true, force: true });
  });
});
