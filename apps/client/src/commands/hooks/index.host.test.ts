/**
 * `p2 hooks install` and `p2 hooks run` for real: a signed hook artifact on disk, the host's
 * preparer config (artifact_auth: build), the hook pod installed under the pod root, its executors
 * run as hooks. Needs root. Every name starts with p2t- and everything is removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signArtifact } from '@p2/auth';
import { detectCgroups, openCgroup } from '@p2/cgroups';
import { ExitCode } from '@p2/cli-kit';
import { packArtifact } from '@p2/hoist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKey } from '../../../../../packages/auth/src/test-support.js';
import { runCli } from '../../program.js';
import { capture } from '../../test-support.js';

const suffix = randomBytes(3).toString('hex');
const hookId = `p2t-hook-${suffix}`;
const node = `p2t-hooknode-${suffix}`;
let work = '';
let artifacts = '';
let hooksDir = '';
let podRoot = '';
let configPath = '';
const executor = () => join(hooksDir, `${hookId}__mark__launch`);

async function p2(args: string[]) {
  const io = capture();
  const code = await runCli(args, { io, cwd: work, env: {} });
  return { code, out: io.out, err: io.err };
}

/** A hook that records what it ran for, and fails for pods whose id contains "fail". */
async function hookArtifact(version: string, signed: boolean): Promise<string> {
  const location = join(artifacts, `hook_${version.repeat(40).slice(0, 40)}.tar.gz`);
  const bytes = await packArtifact(
    [
      { name: 'bin/', type: 'directory' },
      {
        name: 'bin/launch',
        mode: 0o755,
        content: `#!/bin/sh\necho "v${version} $HOOK_EVENT $HOOKED_POD_ID $(id -un)" >> ${work}/marks\ncase "$HOOKED_POD_ID" in *fail*) echo "no $HOOKED_POD_ID here"; exit 3;; esac\n`,
      },
    ],
    { output: location },
  );
  if (signed) await writeFile(`${location}.sig`, await signArtifact(bytes, (await key).privateKey));
  return location;
}

function hookManifest(location: string): string {
  return `id: ${hookId}\nrun_as: root\nlaunchables:\n  mark:\n    launchable_type: hoist\n    location: ${location}\n`;
}

/** The preparer config: its artifact_auth, run_as policy and directories are the host's policy. */
function preparerConfig(hooksManifest?: string): string {
  return [
    'preparer:',
    `  node_name: ${node}`,
    `  pod_root: ${podRoot}`,
    `  hooks_directory: ${hooksDir}`,
    '  auth: {type: none}',
    `  artifact_auth: {type: build, keyring: ${join(work, 'keyring.asc')}}`,
    `  local_artifact_dirs: [${artifacts}]`,
    `  run_as_allow: {hooks/${hookId}: [root]}`,
    ...(hooksManifest
      ? [
          '  hooks_manifest: |',
          ...hooksManifest
            .trimEnd()
            .split('\n')
            .map((l) => `    ${l}`),
        ]
      : ['  hooks_manifest: no_hooks']),
    '',
  ].join('\n');
}

const key = newKey('p2t-hook-builder');
let signedV1 = '';
let unsignedV2 = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-hookscli-'));
  await chmod(work, 0o755);
  artifacts = join(work, 'artifacts');
  hooksDir = join(work, 'p2hooks.d');
  podRoot = join(work, 'pods');
  await mkdir(artifacts, { mode: 0o755 });
  await writeFile(join(work, 'keyring.asc'), (await key).armoredPublic, { mode: 0o644 });
  signedV1 = await hookArtifact('1', true);
  unsignedV2 = await hookArtifact('2', false);
  configPath = join(work, 'preparer.yaml');
  await writeFile(configPath, preparerConfig(), { mode: 0o644 });
  await writeFile(join(work, 'hook-v1.yaml'), hookManifest(signedV1));
  await writeFile(join(work, 'hook-v2.yaml'), hookManifest(unsignedV2));
});

afterAll(async () => {
  await openCgroup(await detectCgroups(), { name: `p2/${node}` })
    .remove({ kill: true })
    .catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe('p2 hooks install', () => {
  it("installs the hook pod verified by the host's artifact_auth and writes its executor", async () => {
    const r = await p2(['hooks', 'install', 'hook-v1.yaml', '--config', configPath, '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({
      pod: hookId,
      installed: true,
      verified: true,
      runAs: 'root',
      home: join(podRoot, 'hooks', hookId),
      executors: [`${hookId}__mark__launch`],
    });
    const info = await stat(executor());
    expect([info.uid, info.mode & 0o777]).toEqual([0, 0o744]);
    const script = await readFile(executor(), 'utf8');
    expect(script).toMatch(/exec setpriv --reuid=root "--regid=\$gid" --init-groups -- chpst -e /);
    expect(script).toContain(join(podRoot, 'hooks', hookId, 'mark', 'installs'));

    // Again: already current, nothing written.
    const again = await p2(['hooks', 'install', 'hook-v1.yaml', '--config', configPath]);
    expect(again.code, again.err).toBe(ExitCode.OK);
    expect(again.out).toMatch(/already current hook pod/);
    expect(again.out).toMatch(/\(unchanged\)/);
  });

  it('refuses an unsigned artifact, leaving the executor as it was; --no-verify installs it as P2 did', async () => {
    const before = await readFile(executor(), 'utf8');
    const refused = await p2(['hooks', 'install', 'hook-v2.yaml', '--config', configPath]);
    expect(refused.code).not.toBe(ExitCode.OK);
    expect(refused.err).toMatch(/hook pod p2t-hook-\w+: /);
    expect(await readFile(executor(), 'utf8')).toBe(before);

    const r = await p2(['hooks', 'install', 'hook-v2.yaml', '--config', configPath, '--no-verify']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.out).toMatch(/installed hook pod .*\(artifact not verified\)/);
    expect(r.out).toMatch(/pruned mark\/installs\/mark_1{40}/);
    const after = await readFile(executor(), 'utf8');
    expect(after).not.toBe(before);
    expect(after).toContain('mark_2222');
    expect(await readdir(join(podRoot, 'hooks', hookId, 'mark', 'installs'))).toEqual([
      `mark_${'2'.repeat(40)}`,
    ]);
  });

  it('needs a host policy (--config, or an installed p2-preparer) unless --no-verify', async () => {
    const r = await p2(['hooks', 'install', 'hook-v1.yaml', '--pod-root', podRoot]);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.err).toMatch(/no p2-preparer installed in/);
    expect(r.err).toMatch(/--no-verify/);
  });

  it("--preparer-manifest installs that preparer's hooks_manifest, with the installed preparer's policy", async () => {
    // The p2-preparer pod installed here: its current manifest carries the host's config.
    const preparerHome = join(podRoot, 'p2-preparer');
    await mkdir(preparerHome, { recursive: true, mode: 0o755 });
    const preparerManifest = (hooks?: string) =>
      `id: p2-preparer\nlaunchables: {}\nconfig:\n${preparerConfig(hooks)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n')}`;
    await writeFile(join(preparerHome, 'current_manifest.yaml'), preparerManifest(), {
      mode: 0o600,
    });
    await writeFile(join(work, 'preparer-v1.yaml'), preparerManifest(hookManifest(signedV1)));
    const r = await p2([
      'hooks',
      'install',
      '--preparer-manifest',
      'preparer-v1.yaml',
      '--pod-root',
      podRoot,
      '--json',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toMatchObject({ pod: hookId, installed: true, verified: true });
    expect(await readFile(executor(), 'utf8')).toContain('mark_1111');

    // The installed preparer's artifact_auth applies: an unsigned artifact is refused.
    await writeFile(join(work, 'preparer-v2.yaml'), preparerManifest(hookManifest(unsignedV2)));
    const refused = await p2([
      'hooks',
      'install',
      '--preparer-manifest',
      'preparer-v2.yaml',
      '--pod-root',
      podRoot,
    ]);
    expect(refused.code).not.toBe(ExitCode.OK);

    // no_hooks: the hook pod and its executors go.
    await writeFile(join(work, 'preparer-none.yaml'), preparerManifest());
    const none = await p2([
      'hooks',
      'install',
      '--preparer-manifest',
      'preparer-none.yaml',
      '--pod-root',
      podRoot,
    ]);
    expect(none.code, none.err).toBe(ExitCode.OK);
    expect(none.out).toContain(`removed hook pod ${hookId}`);
    expect(existsSync(executor())).toBe(false);
    expect(existsSync(join(podRoot, 'hooks', hookId))).toBe(false);
  });
});

describe('p2 hooks run', () => {
  it('runs every hook for one event of a pod and prints each result', async () => {
    const install = await p2(['hooks', 'install', 'hook-v1.yaml', '--config', configPath]);
    expect(install.code, install.err).toBe(ExitCode.OK);
    await rm(join(work, 'marks'), { force: true });
    // The preparer's own pod is installed (previous test): its current manifest is used.
    const common = ['--hooks-dir', hooksDir, '--pod-root', podRoot, '--node-name', node];
    const r = await p2(['hooks', 'run', 'preparer_init', '--pod', 'p2-preparer', ...common]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(r.out).toMatch(new RegExp(`^ok {3}${hookId}__mark__launch {2}\\d+ ms$`, 'm'));
    expect(await readFile(join(work, 'marks'), 'utf8')).toBe('v1 preparer_init p2-preparer root\n');

    // A pod that is not installed, with the manifest hooks should see; JSON.
    await writeFile(join(work, 'pod.yaml'), 'id: p2t-newpod\n');
    const json = await p2([
      'hooks',
      'run',
      'before_install',
      '--manifest',
      'pod.yaml',
      ...common,
      '--json',
    ]);
    expect(json.code, json.err).toBe(ExitCode.OK);
    expect(JSON.parse(json.out)).toMatchObject({
      event: 'before_install',
      podId: 'p2t-newpod',
      records: [{ hook: `${hookId}__mark__launch`, success: true, exitCode: 0 }],
    });
  });

  it('exits 1 when a hook fails, showing its output; unknown events and pods are refused', async () => {
    const common = ['--hooks-dir', hooksDir, '--pod-root', podRoot, '--node-name', node];
    await writeFile(join(work, 'failing.yaml'), 'id: p2t-failpod\n');
    const r = await p2(['hooks', 'run', 'after_install', '--manifest', 'failing.yaml', ...common]);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.out).toMatch(/^FAIL .*exited with status 3$/m);
    expect(r.out).toMatch(/^ {5}no p2t-failpod here$/m);

    const unknown = await p2(['hooks', 'run', 'deploy', '--pod', 'p2-preparer', ...common]);
    expect(unknown.code).not.toBe(ExitCode.OK);
    expect(unknown.err).toMatch(/unknown hook event "deploy"/);
    const missing = await p2(['hooks', 'run', 'after_install', '--pod', 'p2t-nosuch', ...common]);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect((await p2(['hooks', 'run', 'after_install', ...common])).code).toBe(ExitCode.USAGE);
  });
});
