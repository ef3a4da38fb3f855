/**
 * `p2 exec` for real: pods launched with `p2 launch` under runit as their own Unix users in their
 * cgroups, and `p2` itself run as a process (its stdin, stdout, stderr and exit status are the
 * command's). Needs root. Every name starts with p2t- and everything is removed afterwards.
 */

import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ExitCode } from '@p2/cli-kit';
import { readStatus } from '@p2/runit';
import { findUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture, removeLaunched, serveFiles } from '../../test-support.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../../..', import.meta.url));
const suffix = randomBytes(3).toString('hex');
const podId = `p2t-exec-${suffix}`;
const rootPodId = `p2t-exroot-${suffix}`;
const node = `p2t-node-${suffix}`;
let work = '';
let server: Server;
let base = '';
let uid = 0;
let gid = 0;

/** glibc's profiler: a process that loads it creates $PCPROFILE_OUTPUT, owned by that process's uid. */
const preloadLib = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu']
  .map((d) => join(d, 'libpcprofile.so'))
  .find((p) => existsSync(p));

const hosted = () => [
  '--pod-root',
  join(work, 'pods'),
  '--service-root',
  join(work, 'service'),
  '--node-name',
  node,
];

/** `p2 launch` in process. */
async function launch(file: string, ...extra: string[]) {
  const io = capture();
  const code = await runCli(['launch', file, ...hosted(), ...extra], { io, cwd: work, env: {} });
  expect(code, io.err).toBe(ExitCode.OK);
}

/** `p2 …` as a process of its own, with `input` on its stdin. */
function p2(
  args: string[],
  input = '',
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr.on('data', (chunk) => {
    err += chunk;
  });
  child.stdin.end(input);
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

const exec = (...command: string[]) => p2(['exec', podId, ...hosted(), '--', ...command]);

async function artifact(name: string, launchScript: string): Promise<string> {
  const dir = join(work, `src-${name}`);
  await mkdir(join(dir, 'bin'), { recursive: true });
  await writeFile(join(dir, 'bin', 'launch'), launchScript, { mode: 0o755 });
  const version = createHash('sha1').update(`${name}${suffix}`).digest('hex');
  await run('tar', ['-czf', join(work, 'artifacts', `${name}_${version}.tar.gz`), '-C', dir, '.']);
  return `${base}/${name}_${version}.tar.gz`;
}

beforeAll(async () => {
  expect(preloadLib, 'glibc ships libpcprofile.so').toBeDefined();
  work = await mkdtemp(join(tmpdir(), 'p2t-exec-'));
  await chmod(work, 0o755);
  await mkdir(join(work, 'artifacts'));
  ({ server, url: base } = await serveFiles(join(work, 'artifacts')));
  const location = await artifact('sleeper', '#!/bin/sh\nexec sleep 100000\n');
  const home = join(work, 'pods', podId);
  // The manifest is the pod's: its env stanza tries LD_PRELOAD and a PATH of its own (in data/,
  // the one place it can write) on whoever loads its env dirs.
  await writeFile(
    join(work, 'pod.yaml'),
    [
      `id: ${podId}`,
      'launchables:',
      '  app:',
      '    launchable_type: hoist',
      `    location: ${location}`,
      '    restart_timeout: 2s',
      '    env:',
      '      GREETING: hello from the env dir',
      `      LD_PRELOAD: ${preloadLib}`,
      `      PCPROFILE_OUTPUT: ${join(home, 'data', 'preloaded-by')}`,
      `      PATH: ${join(home, 'data', 'bin')}:/usr/bin:/bin`,
      'config:',
      '  answer: 42',
      '',
    ].join('\n'),
  );
  await launch('pod.yaml');
  const user = await findUser(podId);
  uid = user?.uid ?? -1;
  gid = user?.gid ?? -1;
  // The pod's planted tools: any of them run by root would leave a root-owned marker.
  const bin = join(home, 'data', 'bin');
  await mkdir(bin, { recursive: true });
  for (const tool of ['setpriv', 'chpst', 'env', 'sh', 'id', 'cat'])
    await writeFile(
      join(bin, tool),
      `#!/bin/sh\n/usr/bin/id -u >> ${join(home, 'data', 'planted-ran')}\necho planted ${tool}\n`,
      { mode: 0o755 },
    );
  await run('chown', ['-R', `${uid}:${gid}`, join(home, 'data')]);
}, 60_000);

afterAll(async () => {
  server?.close();
  await removeLaunched(work, node, { pods: [podId, rootPodId], users: [podId] });
});

describe('p2 exec', () => {
  it("runs as the pod's user with its env dirs and CONFIG_PATH, in its install dir", async () => {
    const r = await exec(
      '/bin/sh',
      '-c',
      'echo "$(/usr/bin/id -u):$(/usr/bin/id -g)"; echo "$GREETING"; /bin/cat "$CONFIG_PATH"; echo "$POD_ID $LAUNCHABLE_ID"; pwd',
    );
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe(`${uid}:${gid}`);
    expect(lines[1]).toBe('hello from the env dir');
    expect(lines).toContain('answer: 42');
    expect(lines).toContain(`${podId} app`);
    expect(lines.at(-1)).toMatch(new RegExp(`/pods/${podId}/app/installs/app_[0-9a-f]{40}$`));
  });

  it("runs in the launchable's cgroup with the open-files limit of the pod's service", async () => {
    const name = (await readdir(join(work, 'service'))).find((n) => n.startsWith(`${podId}__`));
    const pid = (await readStatus(join(work, 'service', name as string))).pid;
    expect(pid).toBeGreaterThan(0);
    const serviceCgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8');
    expect(serviceCgroups).toContain(podId);
    const r = await exec('/bin/cat', '/proc/self/cgroup');
    expect(r.code, r.err).toBe(0);
    const memory = (text: string) =>
      text.split('\n').find((l) => /:memory:/.test(l) || l.startsWith('0::'));
    expect(memory(r.out)).toBe(memory(serviceCgroups));
    // The run script lifts the limit toward fs.nr_open as far as the host lets it; so does exec.
    const limits = await exec('/bin/cat', '/proc/self/limits');
    const openFiles = (text: string) =>
      text.split('\n').find((l) => l.startsWith('Max open files'));
    expect(openFiles(limits.out)).toBeDefined();
    expect(openFiles(limits.out)).toBe(openFiles(await readFile(`/proc/${pid}/limits`, 'utf8')));
  });

  it("passes stdin through and the command's exit status out (128 + n for signal n)", async () => {
    const echoed = await p2(['exec', podId, ...hosted(), '--', '/bin/cat'], 'from stdin\n');
    expect(echoed.code, echoed.err).toBe(0);
    expect(echoed.out).toBe('from stdin\n');
    const failed = await exec('/bin/sh', '-c', 'echo to stderr >&2; exit 7');
    expect(failed.code).toBe(7);
    expect(failed.err).toBe('to stderr\n');
    const killed = await exec('/bin/sh', '-c', 'kill -TERM $$');
    expect(killed.code).toBe(128 + 15);
    // The command's own options need the `--` (P2's p2-exec wanted it too).
    const bare = await p2(['exec', podId, ...hosted(), '/bin/sh', '-c', 'exit 3']);
    expect(bare.code).toBe(ExitCode.USAGE);
    expect(bare.err).toContain("unknown option '-c'");
  });

  it("never lets the pod's env reach root: LD_PRELOAD and PATH from its env dir act as the pod only", async () => {
    await rm(join(work, 'pods', podId, 'data', 'preloaded-by'), { force: true });
    await rm(join(work, 'pods', podId, 'data', 'planted-ran'), { force: true });
    // A bare name is looked up on the pod's PATH, as the pod: its own planted `id` answers.
    const r = await exec('id');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('planted id\n');
    const ran = (await readFile(join(work, 'pods', podId, 'data', 'planted-ran'), 'utf8'))
      .trim()
      .split('\n');
    expect(ran).toEqual([String(uid)]); // only the command itself, and as the pod's user
    const marker = await stat(join(work, 'pods', podId, 'data', 'preloaded-by'));
    expect(marker.uid).toBe(uid);
  });

  it('refuses what is not installed, with coded errors (--json too)', async () => {
    const missing = await p2(['exec', 'p2t-not-installed', ...hosted(), '--', '/bin/true']);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(missing.err).toContain('p2t-not-installed is not installed');
    expect(missing.err).toContain('P2_HOST_POD_NOT_INSTALLED');
    const json = await p2([
      'exec',
      podId,
      ...hosted(),
      '--launchable',
      'nope',
      '--json',
      '--',
      '/bin/true',
    ]);
    expect(json.code).toBe(ExitCode.NOT_FOUND);
    expect(JSON.parse(json.out || json.err)).toMatchObject({
      error: { code: 'P2_PODS_NO_SUCH_LAUNCHABLE' },
    });
  });

  it('refuses a pod that runs as root unless the run_as policy allows it, as a launch does', async () => {
    const location = await artifact('rootsleeper', '#!/bin/sh\nexec sleep 100000\n');
    await writeFile(
      join(work, 'root.yaml'),
      `id: ${rootPodId}\nrun_as: root\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${location}\n    restart_timeout: 2s\n`,
    );
    await launch('root.yaml', '--allow-run-as', 'root');
    const refused = await p2(['exec', rootPodId, ...hosted(), '--', '/usr/bin/id', '-u']);
    expect(refused.code).toBe(ExitCode.FAILURE);
    expect(refused.err).toContain('P2_PODS_RUN_AS_REFUSED');
    expect(refused.out).toBe('');
    const allowed = await p2([
      'exec',
      rootPodId,
      ...hosted(),
      '--allow-run-as',
      'root',
      '--',
      '/usr/bin/id',
      '-u',
    ]);
    expect(allowed.code, allowed.err).toBe(0);
    expect(allowed.out).toBe('0\n');
  });

  it('never follows a home the pod could have changed: a pod-owned home with a linked env dir is refused', async () => {
    // As an older p2 left homes (the pod's user owned them): the pod swaps its env dir for a link
    // to a root-only directory whose LD_PRELOAD root would load if it read env dirs.
    const home = join(work, 'pods', podId);
    const rootOnly = join(work, 'root-only-env');
    await mkdir(rootOnly, { mode: 0o700 });
    await writeFile(join(rootOnly, 'LD_PRELOAD'), preloadLib as string);
    await writeFile(join(rootOnly, 'PCPROFILE_OUTPUT'), join(work, 'root-preloaded'));
    await chown(home, uid, gid);
    await rename(join(home, 'env'), join(home, 'env.orig'));
    await symlink(rootOnly, join(home, 'env'));
    const r = await exec('/usr/bin/id', '-u');
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('P2_PODS_UNTRUSTED_PATH');
    expect(r.out).toBe('');
    expect(existsSync(join(work, 'root-preloaded'))).toBe(false);
  });
});
