/**
 * The built p2-launch as P2's scripts ran it: a manifest clear-signed by a fresh key, launched
 * under `-a keyring -k KEYRING -u FINGERPRINT` on this host with real runit, a Unix user and
 * cgroups, the hello app answering over loopback; `-a user` with a deploy policy; P2's flag rules
 * (each policy takes exactly its flags); `--require-file`; flags p2 cannot act on warned about.
 * Needs root. Every name starts with p2t- and everything is removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signManifest } from '@p2/auth';
import { detectCgroups, openCgroup, removePodCgroups } from '@p2/cgroups';
import { RunsvDir } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKey } from '../../packages/auth/src/test-support.js';
import {
  type BuiltArtifact,
  buildArtifact,
  type FileServer,
  helloAppDir,
  serveDirectory,
  tempDir,
} from '../src/artifacts.js';
import { runCompatBinary } from '../src/compat.js';
import { freePort, waitFor } from '../src/processes.js';

const id = randomBytes(3).toString('hex');
const node = `p2t-cl-${id}`;
const pods = { keyring: `p2t-clk-${id}`, user: `p2t-clu-${id}`, guarded: `p2t-clg-${id}` };
let work = '';
let artifacts: FileServer;
let hello: BuiltArtifact;
let signer: Awaited<ReturnType<typeof newKey>>;
let fingerprint = '';

beforeAll(async () => {
  work = await tempDir('compat-launch');
  await chmod(work, 0o755); // pod users must reach their homes below it
  await mkdir(join(work, 'artifacts'));
  hello = await buildArtifact(helloAppDir, join(work, 'artifacts'), 'hello', id);
  artifacts = await serveDirectory(join(work, 'artifacts'));
  signer = await newKey('p2t-deployer', 'deployer@p2t.example');
  fingerprint = signer.publicKey.getFingerprint();
  await writeFile(join(work, 'keyring.asc'), signer.armoredPublic);
});

afterAll(async () => {
  const service = join(work, 'service');
  if (existsSync(service)) {
    const runsvdir = new RunsvDir({ root: service, slots: 0 });
    await runsvdir.start().catch(() => undefined);
    await runsvdir.stop({ stopServices: true }).catch(() => undefined);
  }
  await artifacts?.close();
  if (existsSync('/sys/fs/cgroup/memory')) {
    const hierarchy = await detectCgroups();
    // p2-launch names cgroups as P2 did: flat `<pod>__<launchable>` at the mount root.
    for (const pod of Object.values(pods))
      await removePodCgroups(hierarchy, {}, { node, pod }).catch(() => undefined);
    await openCgroup(hierarchy, { name: `p2/${node}` })
      .remove({ kill: true })
      .catch(() => undefined);
  }
  for (const pod of Object.values(pods))
    if (await findUser(pod)) await removeUser(pod, { removeGroup: true });
  await rm(work, { recursive: true, force: true });
});

/** A hello manifest for `pod` on `port`, written to `<work>/<file>` (clear-signed with `sign`). */
async function manifest(pod: string, port: number, file: string, sign: boolean): Promise<void> {
  const text = `id: ${pod}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${artifacts.url}/${hello.fileName}\n    restart_timeout: 5s\nconfig:\n  port: ${port}\n  greeting: hello from p2-launch\n`;
  await writeFile(join(work, file), sign ? await signManifest(text, signer.privateKey) : text);
}

const launch = (args: string[]) =>
  runCompatBinary(
    'p2-launch',
    [
      ...args,
      '--node-name',
      node,
      '-p',
      join(work, 'pods'),
      '--service-root',
      join(work, 'service'),
    ],
    { cwd: work },
  );

const answers = (port: number) =>
  waitFor(
    `the app on port ${port} to answer`,
    async () =>
      (await fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.text(),
        () => undefined,
      )) === 'hello from p2-launch\n',
    60_000,
  );

describe('p2-launch', () => {
  it('-a keyring -k KEYRING -u FINGERPRINT launches a signed manifest; the app answers', async () => {
    const port = await freePort();
    await manifest(pods.keyring, port, 'signed.yaml', true);
    const r = await launch([
      'signed.yaml',
      '-a',
      'keyring',
      '-k',
      'keyring.asc',
      '-u',
      fingerprint,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^launched ${pods.keyring} \\([0-9a-f]{64}\\) in ${join(work, 'pods', pods.keyring)}\\n$`,
      ),
    );
    await answers(port);
    expect(await findUser(pods.keyring)).toBeDefined();
  });

  it('-a keyring refuses an unsigned manifest before installing anything (exit 1)', async () => {
    await manifest(`${pods.keyring}x`, await freePort(), 'unsigned.yaml', false);
    const r = await launch([
      'unsigned.yaml',
      '--auth-type=keyring',
      '--keyring=keyring.asc',
      '--allowed-user',
      fingerprint,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('P2_AUTH_UNSIGNED');
    expect(existsSync(join(work, 'pods', `${pods.keyring}x`))).toBe(false);
  });

  it('-a user authorizes by the deploy policy; --no-start installs only; ignored flags are warned about', async () => {
    await manifest(pods.user, await freePort(), 'user.yaml', true);
    const policy = (email: string) =>
      `groups:\n  p2t-ops:\n    - ${email}\napps:\n  ${pods.user}:\n    - p2t-ops\n`;
    await writeFile(join(work, 'others.yaml'), policy('someone-else@p2t.example'));
    const denied = await launch([
      'user.yaml',
      '-a',
      'user',
      '-k',
      'keyring.asc',
      '-d',
      'others.yaml',
    ]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('P2_AUTH_POLICY_DENIED');
    expect(existsSync(join(work, 'pods', pods.user))).toBe(false);

    await writeFile(join(work, 'policy.yaml'), policy('deployer@p2t.example'));
    const r = await launch([
      `file://${join(work, 'user.yaml')}`,
      '-a',
      'user',
      '-k',
      'keyring.asc',
      '-d',
      'policy.yaml',
      '--no-start',
      '-r',
      'https://registry.example.com',
      '--container-registry-json-key',
      'key.json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^installed ${pods.user} `));
    expect(r.stderr).toContain('p2 runs no docker pods');
    expect(existsSync(join(work, 'pods', pods.user, 'app', 'current'))).toBe(true);
    expect(existsSync(join(work, 'pods', pods.user, 'current_manifest.yaml'))).toBe(false);
  });

  it('each policy takes exactly its flags, as P2 checked them (exit 1, nothing installed)', async () => {
    for (const [args, says] of [
      [['-a', 'keyring', '-k', 'keyring.asc'], 'needs at least one --allowed-user'],
      [['-a', 'none', '-k', 'keyring.asc'], '-a none takes no'],
      [['-a', 'user', '-k', 'keyring.asc'], '-a user needs --deploy-policy'],
      [
        ['-a', 'user', '-k', 'keyring.asc', '-d', 'policy.yaml', '-u', fingerprint],
        '--allowed-user goes with -a keyring',
      ],
      [['-a', 'keyring', '-u', fingerprint], '-a keyring needs --keyring'],
      [['-a', 'x509'], "argument 'x509' is invalid"],
    ] as const) {
      const r = await launch(['user.yaml', ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(says);
    }
  });

  it('--require-file: the services wait for the file, then start', async () => {
    const port = await freePort();
    const flag = join(work, 'may-run');
    await manifest(pods.guarded, port, 'guarded.yaml', false);
    const r = await launch(['guarded.yaml', '--require-file', flag]);
    expect(r.code, r.stderr).toBe(0);
    const services = await readdir(join(work, 'service'));
    const runScripts = await Promise.all(
      services
        .filter((s) => s.includes(pods.guarded))
        .map((s) => readFile(join(work, 'service', s, 'run'), 'utf8')),
    );
    expect(runScripts.length).toBeGreaterThan(0);
    for (const script of runScripts) expect(script).toContain(`require file ${flag} not present`);
    await writeFile(flag, '');
    await answers(port);
  });
});
