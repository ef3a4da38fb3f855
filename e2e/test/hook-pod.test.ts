/**
 * The hook pod of `hooks_manifest` (spec 02 §6.2, §1.3), end to end with the built p2-preparer, a
 * real store, runit, users and cgroups. The hook artifacts are local files (`local_artifact_dirs`)
 * so the first preparer start already has its hooks:
 *
 * - H1 runs as its own user `p2t-hku-<id>`: launchable `mark` records each event in its `$HOME`;
 *   launchable `gate`, listed in `hooks_required`, refuses `before_install` of pods named *blocked*.
 * - H2 (the preparer's config updated, as a self-update would) runs as root (`run_as_allow:
 *   {hooks/<id>: [root]}`) with `mark` only, dumping its uid and environment for each event.
 *
 * The last test is the hostile pod: whatever it writes into its own env dirs, and whatever it
 * tries on the hook pod's files, never reaches what the root hook runs or how.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { detectCgroups, openCgroup, removePodCgroups } from '@p2/cgroups';
import { ManifestBuilder } from '@p2/manifest';
import { findUser, removeUser } from '@p2/users';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltArtifact, buildArtifact, tempDir } from '../src/artifacts.js';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

let h: TestHost;
let failed = false;
let dir = '';
let hookId = '';
let hookUser = '';
let out = '';
let mark1: BuiltArtifact;
let gate1: BuiltArtifact;
let mark2: BuiltArtifact;
let hostile: BuiltArtifact;

const hooksRoot = () => join(h.work, 'pods', 'hooks', hookId);
const hooksDir = () => join(h.work, 'hooks');
const executor = (launchable: string) => join(hooksDir(), `${hookId}__${launchable}__launch`);

async function artifact(name: string, launch: string): Promise<BuiltArtifact> {
  const src = join(dir, 'src', name);
  await mkdir(join(src, 'bin'), { recursive: true });
  await writeFile(join(src, 'bin', 'launch'), launch, { mode: 0o755 });
  return buildArtifact(src, join(dir, 'artifacts'), name);
}

function hooksManifest(version: 1 | 2): string[] {
  const launchable = (id: string, a: BuiltArtifact) => [
    `      ${id}:`,
    '        launchable_type: hoist',
    `        location: ${a.path}`,
  ];
  return [
    '  hooks_manifest: |',
    `    id: ${hookId}`,
    `    run_as: ${version === 1 ? hookUser : 'root'}`,
    '    launchables:',
    ...(version === 1
      ? [...launchable('mark', mark1), ...launchable('gate', gate1)]
      : launchable('mark', mark2)),
  ];
}

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

beforeAll(async () => {
  dir = await tempDir('hookpod');
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'artifacts'), { mode: 0o755 });
  out = join(dir, 'out');
  await mkdir(out, { mode: 0o700 });
  const id = dir
    .slice(-6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x');
  hookId = `p2t-hooks-${id}`;
  hookUser = `p2t-hku-${id}`;
  mark1 = await artifact(
    'mark1',
    '#!/bin/sh\nm=unreadable; head -c 1 "$HOOKED_POD_MANIFEST" >/dev/null 2>&1 && m=readable\necho "$HOOK_EVENT $HOOKED_POD_ID $(id -un) manifest=$m" >> "$HOME/marks"\n',
  );
  gate1 = await artifact(
    'gate1',
    '#!/bin/sh\ncase "$HOOK_EVENT:$HOOKED_POD_ID" in before_install:*blocked*) echo "gate: no $HOOKED_POD_ID"; exit 1;; esac\n',
  );
  mark2 = await artifact(
    'mark2',
    `#!/bin/sh\nf="${out}/$HOOKED_POD_ID.$HOOK_EVENT"\n{ echo "uid=$(id -u)"; env | sort; echo ---; } >> "$f"\n`,
  );
  // Attacks as the pod's user; each outcome recorded in $POD_DATA_DIR/results.<name>.
  hostile = await artifact(
    'hostile',
    [
      '#!/bin/sh',
      'r="$POD_DATA_DIR/results"',
      'conf() { sed -n "s/^$1: //p" "$CONFIG_PATH"; }',
      'try() { n=$1; shift; if sh -c "$*" 2>/dev/null; then echo SUCCEEDED > "$r.$n"; else echo blocked > "$r.$n"; fi; }',
      'export HD="$(conf hooks_dir)" HID="$(conf hook_id)" HH="$(conf hook_home)"',
      'try env_ld_preload \'echo /lib/x86_64-linux-gnu/libpcprofile.so > "$POD_HOME/env/LD_PRELOAD"\'',
      'try env_path \'echo /tmp > "$POD_HOME/env/PATH"\'',
      'try launchable_env \'echo /lib/x86_64-linux-gnu/libpcprofile.so > "$LAUNCHABLE_ROOT/../../env/LD_PRELOAD"\'',
      `try executor 'echo "id > ${dir}/pwned" >> "$HD/\${HID}__mark__launch"'`,
      'try new_hook \'echo "#!/bin/sh" > "$HD/zz-evil"\'',
      `try hook_code 'echo "id > ${dir}/pwned" >> "$HH/mark/current/bin/launch"'`,
      // Its own env file is its own to change (0400, its user's): only its own processes see it.
      'chmod u+w "$POD_HOME/env/HOME" && echo p2t-evil-marker > "$POD_HOME/env/HOME" && echo rewrote > "$r.env_home"',
      'echo done > "$r.done"',
      'exec sleep 100000',
      '',
    ].join('\n'),
  );
  h = await startTestHost({
    extraConfig: [
      `  local_artifact_dirs: [${join(dir, 'artifacts')}]`,
      `  hooks_required: [${hookId}__gate__launch]`,
      `  run_as_allow: {hooks/${hookId}: [root]}`,
      ...hooksManifest(1),
    ],
  });
});

afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  await h?.close(failed);
  // The hook pod's cgroups (below the hook pods' own parent) and that parent.
  const hierarchy = existsSync('/sys/fs/cgroup/memory') ? await detectCgroups() : undefined;
  if (hierarchy && h) {
    await removePodCgroups(
      hierarchy,
      { parent: 'hooks', onlyParent: true },
      { node: h.node, pod: hookId },
    ).catch(() => undefined);
    await openCgroup(hierarchy, { name: 'hooks' })
      .remove()
      .catch(() => undefined);
  }
  if (hookUser && (await findUser(hookUser)))
    await removeUser(hookUser, { removeGroup: true }).catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Rewrites the preparer's config with hook manifest `version` and restarts it. */
async function restartWith(version: 1 | 2, name: string): Promise<void> {
  const config = await readFile(h.configPath, 'utf8');
  const kept = config.slice(0, config.indexOf('  hooks_manifest: |'));
  await writeFile(h.configPath, `${kept}${hooksManifest(version).join('\n')}\n`);
  await h.preparer.stop();
  await h.startPreparer(name);
}

describe('the hook pod of hooks_manifest', () => {
  it('is installed at start as <pod_root>/hooks/<id>, root-owned, with executors and no services', async () => {
    const names = (await readdir(hooksDir())).sort();
    expect(names).toEqual([`${hookId}__gate__launch`, `${hookId}__mark__launch`]);
    for (const name of names) {
      const info = await stat(join(hooksDir(), name));
      expect([info.uid, info.mode & 0o777]).toEqual([0, 0o744]);
    }
    const script = await readFile(executor('mark'), 'utf8');
    expect(script).toContain(
      `setpriv --reuid=${hookUser} "--regid=$gid" --init-groups -- chpst -e ${hooksRoot()}/env`,
    );
    expect(script).toContain(
      join(hooksRoot(), 'mark', 'installs', `mark_${mark1.version}`, 'bin', 'launch'),
    );
    const launch = join(hooksRoot(), 'mark', 'installs', `mark_${mark1.version}`, 'bin', 'launch');
    expect((await stat(launch)).uid).toBe(0);
    expect((await readdir(join(h.work, 'service'))).filter((s) => s.startsWith(hookId))).toEqual(
      [],
    );
    expect((await h.store.list(`reality/${h.node}/`)).value.map((e) => e.key)).not.toContain(
      `reality/${h.node}/${hookId}`,
    );
  });

  it('runs its hooks as its run_as user with HOOK_EVENT and HOOKED_POD_ID on a deploy', async () => {
    const pod = h.podId('a');
    const port = await freePort();
    await h.store.put(`intent/${h.node}/${pod}`, h.manifest(pod, h.v1, port, 'hooked').raw);
    await waitFor('pod a to answer', async () => (await h.answer(port)) === 'hooked\n', 60_000);
    const marks = await readFile(join(hooksRoot(), 'data', 'marks'), 'utf8');
    expect(marks).toContain(`before_install ${pod} ${hookUser} manifest=readable\n`);
    expect(marks).toContain(`after_launch ${pod} ${hookUser} manifest=readable\n`);
  });

  it('a failing required hook blocks the deploy', async () => {
    const pod = h.podId('blocked');
    const port = await freePort();
    await h.store.put(`intent/${h.node}/${pod}`, h.manifest(pod, h.v1, port, 'blocked').raw);
    const state = await waitFor(
      'pod blocked to fail',
      async () => {
        const s = await h.podState(pod);
        return s?.state === 'failed' ? s : undefined;
      },
      60_000,
    );
    expect(state.code).toBe('P2_HOOKS_REQUIRED_HOOK_FAILED');
    expect(state.error).toContain(`${hookId}__gate__launch`);
    expect(await h.answer(port)).toBeUndefined();
    expect(existsSync(join(h.work, 'pods', pod))).toBe(false);
  });

  it('a restart with the same manifest reinstalls nothing and puts back a missing executor', async () => {
    const installs = join(hooksRoot(), 'mark', 'installs', `mark_${mark1.version}`);
    const before = (await stat(installs)).mtimeMs;
    await rm(executor('mark'));
    await restartWith(1, 'preparer-same');
    expect(existsSync(executor('mark'))).toBe(true);
    expect((await stat(installs)).mtimeMs).toBe(before);
    expect(await h.preparer.log()).toMatch(/"installed":false[^\n]*"hook pod ready"/);
  });

  it('an updated hooks_manifest replaces the executors and prunes the old install', async () => {
    await restartWith(2, 'preparer-h2');
    expect((await readdir(hooksDir())).sort()).toEqual([`${hookId}__mark__launch`]);
    const script = await readFile(executor('mark'), 'utf8');
    expect(script).toContain(`mark_${mark2.version}`);
    expect(script).toContain('setpriv --reuid=root');
    expect(await readdir(join(hooksRoot(), 'mark', 'installs'))).toEqual([`mark_${mark2.version}`]);
    expect(existsSync(join(hooksRoot(), 'gate'))).toBe(false);
    // The gate is gone, so the blocked pod now deploys.
    const blocked = h.podId('blocked');
    await waitFor(
      'pod blocked to run',
      async () => (await h.podState(blocked))?.state === 'running',
      90_000,
    );
  });

  it('a hostile pod cannot influence what the root hook runs, or how', async () => {
    const pod = h.podId('evil');
    const build = (greeting: string) =>
      new ManifestBuilder()
        .setId(pod)
        .setLaunchable('app', {
          launchableType: 'hoist',
          location: hostile.path,
          restartTimeout: '2s',
        })
        .setConfig({ hooks_dir: hooksDir(), hook_id: hookId, hook_home: hooksRoot(), greeting })
        .build();
    const executorSha = await sha256(executor('mark'));
    const hookCode = join(hooksRoot(), 'mark', 'current', 'bin', 'launch');
    const hookCodeSha = await sha256(hookCode);
    await h.store.put(`intent/${h.node}/${pod}`, build('one').raw);
    const results = join(h.work, 'pods', pod, 'data', 'results');
    await waitFor('the attacks to run', async () => existsSync(`${results}.done`), 60_000);
    for (const attack of [
      'env_ld_preload',
      'env_path',
      'launchable_env',
      'executor',
      'new_hook',
      'hook_code',
    ])
      expect([attack, (await readFile(`${results}.${attack}`, 'utf8')).trim()]).toEqual([
        attack,
        'blocked',
      ]);
    expect((await readFile(`${results}.env_home`, 'utf8')).trim()).toBe('rewrote');

    // An update: the root hook runs for the pod that did all this.
    const dump = join(out, `${pod}.before_install`);
    await rm(dump, { force: true });
    await h.store.put(`intent/${h.node}/${pod}`, build('two').raw);
    const text = await waitFor(
      'the root hook to run for the hostile pod',
      async () => {
        const t = await readFile(dump, 'utf8').catch(() => '');
        return t.includes('---') ? t : undefined;
      },
      60_000,
    );
    const env = new Map(
      text
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(env.get('uid')).toBe('0');
    expect(env.get('HOOKED_POD_ID')).toBe(pod);
    // The pod's paths are passed, as strings; nothing from its env dirs is loaded.
    expect(env.get('HOOKED_ENV_PATH')).toBe(join(h.work, 'pods', pod, 'env'));
    expect(env.has('LD_PRELOAD')).toBe(false);
    expect(env.get('PATH')).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(env.get('HOME')).toBe(join(hooksRoot(), 'data'));
    expect(text).not.toContain('p2t-evil-marker');
    // What root runs is root's alone, and unchanged.
    expect(await sha256(executor('mark'))).toBe(executorSha);
    expect(await sha256(hookCode)).toBe(hookCodeSha);
    expect(existsSync(join(hooksDir(), 'zz-evil'))).toBe(false);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    for (let path = hookCode; path !== '/'; path = dirname(path)) {
      const info = await stat(path);
      if (path.startsWith('/tmp') && path.split('/').length <= 2) continue;
      expect([path, info.uid, info.mode & 0o022]).toEqual([path, 0, 0]);
    }
  });
});
