/**
 * The preparer's hook pods (`PodHost.hookPods()`), for real: a Unix user, cgroups, local artifacts,
 * the entry points' run scripts executed as hooks would be. Needs root. Every name starts with p2t-
 * and everything is removed afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { detectCgroups, openCgroup, removePodCgroups } from '@p2/cgroups';
import { packArtifact } from '@p2/hoist';
import { type Manifest, parseManifest } from '@p2/manifest';
import { RunsvDir } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodHost } from './pod-host.js';

const run = promisify(execFile);
const suffix = randomBytes(3).toString('hex');
const hookId = `p2t-hk-${suffix}`;
const hookUser = `p2t-hku-${suffix}`;
const podId = `p2t-hkpod-${suffix}`;
const node = `p2t-hknode-${suffix}`;
const cgroupsAvailable = existsSync('/sys/fs/cgroup/memory');

let work = '';
let artifacts = '';
let host: PodHost;
let runsvdir: RunsvDir;

/** A hook artifact whose bin/launch prints who runs it, with what, from where. */
async function hookArtifact(version: string): Promise<string> {
  const location = join(artifacts, `hook_${version.padEnd(40, '0')}.tar.gz`);
  await packArtifact(
    [
      { name: 'bin/', type: 'directory' },
      {
        name: 'bin/launch',
        mode: 0o755,
        content: `#!/bin/sh\necho "v=${version} user=$(id -un) event=$HOOK_EVENT entry=$ENTRY_POINT config=$CONFIG_PATH preload=$LD_PRELOAD cwd=$(pwd)"\ncat /proc/self/cgroup | grep -c hooks/${hookId} || true\n`,
      },
    ],
    { output: location },
  );
  return location;
}

function hookManifest(location: string, launchables = ['mark'], runAs = hookUser): Manifest {
  const stanzas = launchables
    .map((id) => `  ${id}:\n    launchable_type: hoist\n    location: ${location}\n`)
    .join('');
  return parseManifest(
    `id: ${hookId}\nrun_as: ${runAs}\nlaunchables:\n${stanzas}config:\n  color: blue\n`,
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-hookpods-'));
  await chmod(work, 0o755);
  artifacts = join(work, 'artifacts');
  await mkdir(artifacts, { mode: 0o755 });
  runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 0 });
  host = new PodHost({
    podRoot: join(work, 'pods'),
    nodeName: node,
    runsvdir,
    cgroups: cgroupsAvailable ? await detectCgroups() : false,
    fetch: { localRoots: [artifacts] },
    runAs: { allow: { [`hooks/${hookId}`]: ['root'] } },
    // A node's read-only default and require file are for pods, never for hook pods.
    readOnlyDefault: () => true,
    requireFile: join(work, 'never-there'),
  });
});

afterAll(async () => {
  if (cgroupsAvailable) {
    const hierarchy = await detectCgroups();
    await removePodCgroups(hierarchy, { parent: 'hooks' }, { node, pod: hookId }).catch(
      () => undefined,
    );
    await openCgroup(hierarchy, { name: `p2/${node}` })
      .remove({ kill: true })
      .catch(() => undefined);
  }
  for (const user of [hookUser, podId])
    if (await findUser(user)) await removeUser(user, { removeGroup: true });
  await rm(work, { recursive: true, force: true });
});

describe('hook pods', () => {
  it('install in <pod_root>/hooks/<id>, activate without services, and render run scripts that drop privileges first', async () => {
    const hooks = host.hookPods();
    expect(hooks.podRoot).toBe(join(work, 'pods', 'hooks'));
    const manifest = hookManifest(await hookArtifact('1'));
    const installed = await hooks.install(manifest);
    expect(installed.podHome).toBe(join(work, 'pods', 'hooks', hookId));
    expect(installed.readOnly).toBe(false);
    await hooks.activate(manifest);
    const layout = hooks.layout({ podId: hookId });
    expect(await readlink(layout.currentLink('mark'))).toMatch(/installs\/mark_1/);
    expect((await hooks.currentManifest(layout))?.sha()).toBe(manifest.sha());
    // Never listed as one of the node's pods, never supervised.
    expect(await host.installedPods()).toEqual([]);
    expect(await readdir(join(work, 'service')).catch(() => [])).toEqual([]);

    const [script, ...more] = await hooks.entryPointScripts(manifest);
    expect(more).toEqual([]);
    expect(script).toMatchObject({
      launchableId: 'mark',
      entryPoint: 'bin/launch',
      name: `${hookId}__mark__launch`,
    });
    // The same privilege boundary as a service: setpriv before chpst loads the env dirs; no
    // setsid (the hook runner owns the group); no require file (pods' only).
    expect(script?.script).toMatch(
      /exec setpriv --reuid=p2t-hku-\w+ "--regid=\$gid" --init-groups -- chpst -e /,
    );
    expect(script?.script).not.toContain('setsid');
    expect(script?.script).not.toContain('never-there');

    const scriptPath = join(work, 'executor');
    await rm(scriptPath, { force: true });
    await writeFile(scriptPath, script?.script ?? '', { mode: 0o755 });
    const { stdout } = await run(scriptPath, [], {
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOOK_EVENT: 'before_install', LD_PRELOAD: '' },
    });
    const installDir = join(layout.installsDir('mark'), 'mark_1'.padEnd(45, '0'));
    expect(stdout).toContain(
      `v=1 user=${hookUser} event=before_install entry=bin/launch config=${installed.configPath} preload= cwd=${installDir}`,
    );
    if (cgroupsAvailable) expect(stdout.trim().split('\n').at(-1)).not.toBe('0');
  });

  it('a new version replaces the old: only current is kept, a dropped launchable goes', async () => {
    const hooks = host.hookPods();
    const layout = hooks.layout({ podId: hookId });
    const two = hookManifest(await hookArtifact('2'), ['mark', 'extra']);
    await hooks.install(two);
    await hooks.activate(two);
    expect(await readlink(layout.lastLink('mark'))).toMatch(/mark_1/);
    const removed = await hooks.pruneInstalls(two, { onlyCurrent: true });
    expect(removed).toEqual([`mark/installs/${'mark_1'.padEnd(45, '0')}`]);
    expect(existsSync(layout.lastLink('mark'))).toBe(false);
    expect(await readdir(layout.installsDir('mark'))).toEqual(['mark_2'.padEnd(45, '0')]);

    const three = hookManifest(await hookArtifact('3'), ['mark']);
    await hooks.install(three);
    await hooks.activate(three);
    const pruned = await hooks.pruneInstalls(three, { onlyCurrent: true });
    expect(pruned).toContain('extra');
    expect(existsSync(layout.launchableRoot('extra'))).toBe(false);
    expect((await stat(layout.home)).uid).toBe(0);
  });

  it('run_as: root only through run_as_allow "hooks/<id>", and pods and hook pods never share users', async () => {
    const hooks = host.hookPods();
    const location = await hookArtifact('4');
    await expect(hooks.checkRunAs(hookManifest(location, ['mark'], 'root'))).resolves.toMatchObject(
      { uid: 0 },
    );
    // An exception for the pod id is not one for the hook pod of that id, nor the reverse.
    const strict = new PodHost({
      podRoot: join(work, 'pods'),
      nodeName: node,
      runsvdir,
      cgroups: false,
      runAs: { allow: { [hookId]: ['root'] } },
    });
    await expect(
      strict.hookPods().checkRunAs(hookManifest(location, ['mark'], 'root')),
    ).rejects.toMatchObject({
      code: 'P2_PODS_RUN_AS_REFUSED',
      message: expect.stringContaining(`pod hooks/${hookId} may not run as "root"`),
      hint: expect.stringContaining(`run_as_allow: {hooks/${hookId}: [root]}`),
    });
    await expect(
      host.checkRunAs(parseManifest(`id: ${hookId}\nrun_as: root\n`)),
    ).rejects.toMatchObject({ code: 'P2_PODS_RUN_AS_REFUSED' });
    // A pod may not run as the hook pod's user (its home is the hook pod's).
    await expect(
      host.checkRunAs(parseManifest(`id: ${podId}\nrun_as: ${hookUser}\n`)),
    ).rejects.toMatchObject({
      message: expect.stringContaining(`it is the user of pod hooks/${hookId}`),
    });
    // Nor a hook pod as a pod's user.
    await run('useradd', ['-M', '-d', join(work, 'pods', podId), podId]);
    await expect(hooks.checkRunAs(hookManifest(location, ['mark'], podId))).rejects.toMatchObject({
      message: expect.stringContaining(`it is the user of pod ${podId}`),
    });
  });

  it('no pod may be named hooks: its home would be the hook pods’ directory', async () => {
    await expect(host.install(parseManifest('id: hooks\n'))).rejects.toMatchObject({
      code: 'P2_PODS_INVALID_POD_ID',
      message: expect.stringContaining('is reserved'),
    });
  });

  it('a hook pod runs hoist launchables only: an opencontainer launchable is refused', async () => {
    const manifest = parseManifest(
      `id: ${hookId}\nlaunchables:\n  box:\n    launchable_type: opencontainer\n    location: http://127.0.0.1:1/box.tar.gz\n`,
    );
    await expect(host.hookPods().install(manifest)).rejects.toMatchObject({
      code: 'P2_PODS_UNSUPPORTED_LAUNCHABLE',
      hint: 'a hook pod runs hoist launchables only',
    });
  });

  it('uninstalling a hook pod removes its home and cgroups, never the services of a pod with its name', async () => {
    const hooks = host.hookPods();
    const fakeService = join(work, 'service', `${hookId}__mark__launch`);
    await mkdir(fakeService, { recursive: true });
    await hooks.uninstall({ podId: hookId });
    expect(existsSync(join(work, 'pods', 'hooks', hookId))).toBe(false);
    expect(existsSync(fakeService)).toBe(true);
    if (cgroupsAvailable)
      expect(existsSync(`/sys/fs/cgroup/memory/hooks/${hookId}__mark`)).toBe(false);
    expect(await readFile(join(work, 'executor'), 'utf8')).toContain('setpriv');
  });
});
