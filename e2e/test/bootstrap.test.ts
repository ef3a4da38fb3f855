/**
 * p2-bootstrap end to end: from nothing to a host whose store and preparer are pods managed by p2;
 * the store denies anyone without the root-only token (an unprivileged local user's `curl -X PUT`
 * of an intent gets 403); idempotent (same token, nothing restarted); an app deploys through
 * `p2 schedule` as root with no token flag; the preparer updates itself with one restart and
 * without restarting the app; a host bootstrapped before the token (open store, preparer without
 * consul_token_path) is secured by one run; an unsafe token file stops bootstrap before anything is
 * set up.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createStore, KvErrorCodes, readTokenFile, type Store } from '@p2/kv';
import { ManifestBuilder, parseManifest } from '@p2/manifest';
import { findUser } from '@p2/users';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildArtifact,
  type FileServer,
  helloAppDir,
  repoRoot,
  serveDirectory,
  tempDir,
} from '../src/artifacts.js';
import {
  bootstrapStoreUrl,
  bootstrapTokenFile,
  runBootstrap,
  teardownBootstrappedHost,
} from '../src/bootstrap.js';
import { freePort, waitFor } from '../src/processes.js';

const run = promisify(execFile);
const id = randomBytes(3).toString('hex');
const node = `p2t-boot-${id}`;
const kvUser = `p2t-kv-${id}`;
const appPod = `p2t-hello-${id}`;
/** An unprivileged local user, as any pod or login on the host would be. */
const outsider = `p2t-out-${id}`;
let work = '';
let refusedWork = '';
let store: Store | undefined;
let artifacts: FileServer | undefined;

const bootstrap = (kvPort: number, statusPort: number) =>
  runBootstrap(work, { node, kvPort, statusPort, kvUser });

async function pidOf(service: string): Promise<number> {
  return Number(
    (await readFile(join(work, 'service', service, 'supervise', 'pid'), 'utf8')).trim(),
  );
}

afterAll(async () => {
  await store?.close();
  await artifacts?.close();
  if (work) await teardownBootstrappedHost(work, { node, users: [kvUser, appPod] });
  if (await findUser(outsider)) await run('userdel', [outsider]).catch(() => undefined);
  if (refusedWork) await rm(refusedWork, { recursive: true, force: true });
});

/** The built `p2` CLI, as root or as another user, with only the environment given. */
function p2(args: string[], env: NodeJS.ProcessEnv, user?: string) {
  const cli = [process.execPath, join(repoRoot, 'apps/client/dist/cli.js'), ...args];
  const [file, argv] = user
    ? [
        'runuser',
        ['-u', user, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...cli],
      ]
    : [cli[0] as string, cli.slice(1)];
  return run(file, argv as string[], {
    env: { PATH: process.env.PATH, ...env },
    timeout: 60_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof error.code === 'number' ? error.code : -1,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

describe('p2-bootstrap', () => {
  it('sets up a host, is idempotent, deploys an app, and lets the preparer update itself', async () => {
    work = await tempDir('e2e-bootstrap');
    await run('chmod', ['755', work]);
    const kvPort = await freePort();
    const statusPort = await freePort();

    const first = await bootstrap(kvPort, statusPort);
    expect(first.pods).toEqual([
      { pod: 'p2-kv-server', action: 'installed' },
      { pod: 'p2-preparer', action: 'installed' },
    ]);
    expect(await (await fetch(`http://127.0.0.1:${statusPort}/_status`)).text()).toBe(
      'p2-preparer OK',
    );
    // The token: created once, root only; the store knows only its digest.
    const tokenFile = bootstrapTokenFile(work);
    expect(first.token).toEqual({ file: tokenFile, action: 'created' });
    const tokenStats = await lstat(tokenFile);
    expect([tokenStats.isFile(), tokenStats.uid, tokenStats.gid, tokenStats.mode & 0o777]).toEqual([
      true,
      0,
      0,
      0o600,
    ]);
    const token = await readTokenFile(tokenFile, { rootOwned: true, private: true });
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const storeUrl = bootstrapStoreUrl(work, kvPort);
    const anonymous = createStore(storeUrl);
    const denied = await anonymous.get(`intent/${node}/p2-preparer`).catch((e: unknown) => e);
    await anonymous.close();
    expect((denied as { code?: string }).code).toBe(KvErrorCodes.PERMISSION_DENIED);
    store = createStore(storeUrl, { token });
    const kvIntent = new TextDecoder().decode(
      (await store.get(`intent/${node}/p2-kv-server`)).value?.value,
    );
    expect(kvIntent).toContain(createHash('sha256').update(token).digest('hex'));
    expect(kvIntent).not.toContain(token);
    const preparerIntent = parseManifest(
      (await store.get(`intent/${node}/p2-preparer`)).value?.value ?? new Uint8Array(),
    );
    expect((preparerIntent.config as { preparer: Record<string, unknown> }).preparer).toMatchObject(
      {
        consul_token_path: tokenFile,
      },
    );
    const { value: keys } = await store.keys(`reality/${node}/`);
    expect(keys).toEqual([`reality/${node}/p2-kv-server`, `reality/${node}/p2-preparer`]);
    // The store runs as its own user; the preparer as root.
    const kvPid = await pidOf('p2-kv-server__kv-server__launch');
    const kvUid = (await readFile(`/proc/${kvPid}/status`, 'utf8')).match(/^Uid:\s+(\d+)/m)?.[1];
    expect(Number(kvUid)).toBe((await findUser(kvUser))?.uid);
    // It serves HTTPS with a certificate every client pins; its key is readable by its user alone.
    expect((preparerIntent.config as { preparer: { store: string } }).preparer.store).toBe(
      storeUrl,
    );
    const cert = await lstat(join(work, 'tls', 'kv.pem'));
    const key = await lstat(join(work, 'tls', 'kv.key'));
    expect([cert.uid, cert.mode & 0o777]).toEqual([0, 0o644]);
    expect([key.uid, key.mode & 0o777]).toEqual([Number(kvUid), 0o400]);

    // An unprivileged local user (any pod) cannot write intent, nor read it, nor borrow the token.
    await run('useradd', [
      '--system',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      outsider,
    ]);
    const intentKeys = (await store.keys(`intent/${node}/`)).value;
    await writeFile(join(work, 'evil.yaml'), `id: evil\nrun_as: root\n`, { mode: 0o644 });
    const curl = await run('runuser', [
      ...['-u', outsider, '--'],
      ...['curl', '-sS', '-o', '-', '-w', '\n%{http_code}', '-X', 'PUT'],
      ...['--cacert', join(work, 'tls', 'kv.pem')],
      ...['--data-binary', `@${join(work, 'evil.yaml')}`],
      `https://127.0.0.1:${kvPort}/v1/kv/intent/${node}/evil`,
    ]);
    const [body, status] = [
      curl.stdout.slice(0, curl.stdout.lastIndexOf('\n')),
      curl.stdout.slice(curl.stdout.lastIndexOf('\n') + 1),
    ];
    expect(status).toBe('403');
    expect(body).toContain('Permission denied');
    expect(body).toContain('run as root so p2 finds /etc/p2/consul.token');
    const read = await run('runuser', [
      ...['-u', outsider, '--'],
      ...['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}'],
      ...['--cacert', join(work, 'tls', 'kv.pem')],
      `https://127.0.0.1:${kvPort}/v1/kv/intent/?recurse`,
    ]);
    expect(read.stdout).toBe('403');
    const asOutsider = await p2(
      ['schedule', join(work, 'evil.yaml'), '--node', node],
      { P2_STORE: storeUrl, P2_TOKEN_FILE: tokenFile },
      outsider,
    );
    expect(asOutsider.code).toBe(5);
    expect(asOutsider.stderr).toContain(`${tokenFile} is not readable by this user`);
    expect(asOutsider.stderr).toContain(
      'hint: run as root so p2 finds /etc/p2/consul.token, or pass --token / CONSUL_HTTP_TOKEN',
    );
    expect((await store.keys(`intent/${node}/`)).value).toEqual(intentKeys);
    expect((await store.get(`intent/${node}/evil`)).value).toBeUndefined();

    const preparerPid = await pidOf('p2-preparer__preparer__launch');
    const second = await bootstrap(kvPort, statusPort);
    expect(second.pods.map((p) => p.action)).toEqual(['unchanged', 'unchanged']);
    expect(second.token).toEqual({ file: tokenFile, action: 'reused' });
    expect(await readFile(tokenFile, 'utf8')).toBe(`${token}\n`);
    expect(await pidOf('p2-preparer__preparer__launch')).toBe(preparerPid);
    expect(await pidOf('p2-kv-server__kv-server__launch')).toBe(kvPid);

    // An app, deployed through the store by the bootstrapped preparer.
    const artifact = await buildArtifact(helloAppDir, join(work, 'artifacts'), 'hello', id);
    artifacts = await serveDirectory(join(work, 'artifacts'));
    const appPort = await freePort();
    const app = new ManifestBuilder()
      .setId(appPod)
      .setLaunchable('app', {
        launchableType: 'hoist',
        location: `${artifacts.url}/${artifact.fileName}`,
      })
      .setConfig({ port: appPort, greeting: 'bootstrapped' })
      .setStatusPort(appPort)
      .setStatusHttp(true)
      .build();
    // `p2 schedule` as root, with no token flag and no CONSUL_HTTP_TOKEN: it reads the token file.
    await writeFile(join(work, 'app.yaml'), app.raw);
    const scheduled = await p2(['schedule', join(work, 'app.yaml'), '--node', node], {
      P2_STORE: storeUrl,
      P2_TOKEN_FILE: tokenFile,
    });
    expect(scheduled).toMatchObject({ code: 0, stderr: '' });
    await waitFor(
      'the app to answer',
      async () =>
        (await fetch(`http://127.0.0.1:${appPort}/`).then(
          (r) => r.text(),
          () => undefined,
        )) === 'bootstrapped\n',
      60_000,
    );
    const appPid = await pidOf(`${appPod}__app__launch`);

    // The preparer deploys its own new version: one restart, the app untouched.
    const { value: entry } = await store.get(`intent/${node}/p2-preparer`);
    const current = parseManifest(entry?.value ?? new Uint8Array());
    const config = structuredClone(current.config) as { preparer: Record<string, unknown> };
    config.preparer.log_level = 'debug';
    const next = current.toBuilder().setConfig(config).build();
    await store.put(`intent/${node}/p2-preparer`, next.raw);
    await waitFor(
      'the preparer to record its new version',
      async () => {
        const { value } = await (store as Store).get(`reality/${node}/p2-preparer`);
        return value && parseManifest(value.value).sha() === next.sha();
      },
      60_000,
    );
    await waitFor(
      'the new preparer to serve',
      async () =>
        (await fetch(`http://127.0.0.1:${statusPort}/_status`).then(
          (r) => r.text(),
          () => undefined,
        )) === 'p2-preparer OK',
    );
    expect(await pidOf('p2-preparer__preparer__launch')).not.toBe(preparerPid);
    const exits = (
      await readFile(join(work, 'service', 'p2-preparer__preparer__launch', 'exits.jsonl'), 'utf8')
    )
      .trim()
      .split('\n');
    expect(exits.length).toBeLessThanOrEqual(2); // at most the self-restart (plus one at first start)
    expect(await pidOf(`${appPod}__app__launch`)).toBe(appPid);

    // A host bootstrapped before the token: an open store, a preparer without consul_token_path.
    // One run of p2-bootstrap secures it (bootstrap replaces both itself: an old preparer might not
    // reach the store as it is after the update).
    const reality = async (pod: string) =>
      parseManifest(
        (await (store as Store).get(`reality/${node}/${pod}`)).value?.value ?? new Uint8Array(),
      );
    const secureKv = parseManifest(
      (await store.get(`intent/${node}/p2-kv-server`)).value?.value ?? new Uint8Array(),
    );
    const kvLaunchable = secureKv.launchables['kv-server'];
    if (!kvLaunchable) throw new Error('no kv-server launchable');
    const { P2_KV_ACL_TOKEN_SHA256: _digest, ...openEnv } = kvLaunchable.env;
    const openKv = secureKv
      .toBuilder()
      .setLaunchable('kv-server', { ...kvLaunchable, env: openEnv })
      .build();
    await store.put(`intent/${node}/p2-kv-server`, openKv.raw);
    await waitFor(
      'the open store to run',
      async () => (await reality('p2-kv-server').catch(() => undefined))?.sha() === openKv.sha(),
      60_000,
    );
    const oldConfig = structuredClone(next.config) as { preparer: Record<string, unknown> };
    delete oldConfig.preparer.consul_token_path;
    const oldPreparer = next.toBuilder().setConfig(oldConfig).build();
    await store.put(`intent/${node}/p2-preparer`, oldPreparer.raw);
    await waitFor(
      'the preparer without a token to run',
      async () =>
        (await reality('p2-preparer').catch(() => undefined))?.sha() === oldPreparer.sha(),
      60_000,
    );
    const open = createStore(storeUrl);
    expect((await open.keys(`intent/${node}/`)).value).toContain(`intent/${node}/p2-preparer`);
    const upgraded = await bootstrap(kvPort, statusPort);
    expect(upgraded.pods).toEqual([
      { pod: 'p2-kv-server', action: 'updated' },
      { pod: 'p2-preparer', action: 'updated' },
    ]);
    expect(upgraded.token).toEqual({ file: tokenFile, action: 'reused' });
    expect((await reality('p2-kv-server')).sha()).toBe(secureKv.sha());
    const refused = await open.keys(`intent/${node}/`).catch((e: unknown) => e);
    await open.close();
    expect((refused as { code?: string }).code).toBe(KvErrorCodes.PERMISSION_DENIED);
    // The preparer still works the store with its token: the app stays deployed and healthy.
    expect((await store.get(`reality/${node}/${appPod}`)).value).toBeDefined();
    expect(await (await fetch(`http://127.0.0.1:${appPort}/`)).text()).toBe('bootstrapped\n');
  });
});

describe('p2-bootstrap with an unsafe token file', () => {
  it('refuses a group- or world-readable file, one not owned by root, and a symlink, before setting anything up', async () => {
    refusedWork = await tempDir('e2e-bootstrap-refused');
    await run('chmod', ['755', refusedWork]);
    const secret = 'p2t-not-to-be-trusted\n';
    const cases: Array<[string, () => Promise<string>]> = [
      [
        'group-readable',
        async () => {
          const file = join(refusedWork, 'group.token');
          await writeFile(file, secret);
          await chmod(file, 0o640);
          return file;
        },
      ],
      [
        'world-readable',
        async () => {
          const file = join(refusedWork, 'world.token');
          await writeFile(file, secret);
          await chmod(file, 0o644);
          return file;
        },
      ],
      [
        'not owned by root',
        async () => {
          const file = join(refusedWork, 'nobody.token');
          await writeFile(file, secret, { mode: 0o600 });
          await run('chown', ['65534', file]);
          return file;
        },
      ],
      [
        'a symlink',
        async () => {
          const target = join(refusedWork, 'target.token');
          await writeFile(target, secret, { mode: 0o600 });
          const file = join(refusedWork, 'link.token');
          await symlink(target, file);
          return file;
        },
      ],
    ];
    for (const [name, make] of cases) {
      const tokenFile = await make();
      const host = join(refusedWork, name.replaceAll(' ', '-'));
      await mkdir(host);
      const error = (await runBootstrap(host, {
        node: `p2t-refused-${id}`,
        kvPort: 1,
        statusPort: 1,
        kvUser: `p2t-kvr-${id}`,
        tokenFile,
      }).catch((e: unknown) => e)) as { code?: number; stdout?: string; stderr?: string };
      expect([name, error.code]).toEqual([name, 1]);
      expect([name, JSON.parse(error.stdout ?? '{}').error?.code]).toEqual([
        name,
        'P2_KV_TOKEN_FILE_UNSAFE',
      ]);
      expect(error.stderr).toContain(`token file ${tokenFile}`);
      expect(error.stderr).toContain('hint: ');
      // Left as it was, and nothing was set up.
      expect(await readFile(tokenFile, 'utf8')).toBe(secret);
      expect(await findUser(`p2t-kvr-${id}`)).toBeUndefined();
      await expect(lstat(join(host, 'pods'))).rejects.toThrow(/ENOENT/);
    }
  });
});
