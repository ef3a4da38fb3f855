/**
 * P2's own acceptance scenario (spec 03 §7, `integration/single-node-slug-deploy/check.go`), ported
 * to this platform: bootstrap with signed store and preparer manifests under a keyring policy; a hook
 * that sees every pod before it is installed (P2 used it to create users; p2 creates them itself);
 * a hello app deployed with `p2 schedule` and as a uuid pod with `p2 schedule --uuid`; its runit
 * service, `passing` health in the store (for it and for the preparer), its cgroups and its
 * resource-limit file; a process exit code recorded in the store; and the opencontainer pod (an OCI
 * bundle run by runc under runit, `<pod>__<launchable>__container`, answering on its port and
 * passing health). P2 ran that pod as root; p2 refuses a bundle whose user is not the pod's, so it
 * runs as its own user here.
 *
 * Not ported: the replication controller assertions (they belong to the controllers issue).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadSecretKeyFile, signManifest } from '@p2/auth';
import { createStore, readTokenFile, type Store } from '@p2/kv';
import { ManifestBuilder } from '@p2/manifest';
import { deleteContainer } from '@p2/runc';
import { afterAll, describe, expect, it } from 'vitest';
import { busyboxConfig, writeBusyboxBundle } from '../../test-support/busybox-bundle.js';
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
const node = `p2t-acc-${id}`;
const kvUser = `p2t-kv-${id}`;
const hello = `p2t-hello-${id}`;
const oci = `p2t-oci-${id}`;
const keys = join(repoRoot, 'fixtures/p2/keys');
let work = '';
let store: Store | undefined;
let artifacts: FileServer | undefined;

const p2 = (args: string[], env: NodeJS.ProcessEnv) =>
  run(process.execPath, [join(repoRoot, 'apps/client/dist/cli.js'), ...args], {
    env: { ...process.env, ...env },
    timeout: 60_000,
  });

afterAll(async () => {
  await store?.close();
  await artifacts?.close();
  // The preparer's runc state and specs are host-wide (/run/p2/runc, /var/lib/p2/containers).
  await deleteContainer({}, `${oci}__hello`, { force: true }).catch(() => undefined);
  await rm(join('/var/lib/p2/containers', oci), { recursive: true, force: true });
  if (work) await teardownBootstrappedHost(work, { node, users: [kvUser, hello, oci] });
  // runc's cgroups in the controllers p2 does not manage.
  for (const mount of await readdir('/sys/fs/cgroup').catch(() => [] as string[]))
    for (const path of [`${node}/${oci}__hello/container`, `${node}/${oci}__hello`, node])
      await rmdir(join('/sys/fs/cgroup', mount, path)).catch(() => undefined);
});

async function healthOf(pod: string): Promise<string | undefined> {
  const { value } = await (store as Store).get(`health/${pod}/${node}`);
  return value ? JSON.parse(Buffer.from(value.value).toString('utf8')).Status : undefined;
}

describe("P2's acceptance scenario", () => {
  it('bootstraps signed, deploys hello (legacy, uuid, opencontainer), checks runit, health, cgroups, limits and exits', async () => {
    work = await tempDir('e2e-acceptance');
    await run('chmod', ['755', work]);
    await run('mkdir', ['-p', join(work, 'hooks')]);
    await writeFile(
      join(work, 'hooks', 'users'),
      `#!/bin/sh\n# P2's user hook, reduced to a record: p2 creates pod users itself.\n[ "$HOOK_EVENT" = before_install ] && echo "$HOOKED_POD_ID $HOOKED_POD_HOME" >> ${join(work, 'hooked.log')}\nexit 0\n`,
      { mode: 0o755 },
    );
    const kvPort = await freePort();
    const statusPort = await freePort();
    const started = Date.now();
    await runBootstrap(work, {
      node,
      kvPort,
      statusPort,
      kvUser,
      extraArgs: [
        ...['--keyring', join(keys, 'p2universe-pubring.gpg')],
        ...['--signing-key', join(keys, 'p2universe-secring.gpg')],
        ...['--hooks-directory', join(work, 'hooks')],
      ],
    });
    // P2: the preparer's /_status answers within 10 s of bootstrap.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(await (await fetch(`http://127.0.0.1:${statusPort}/_status`)).text()).toBe(
      'p2-preparer OK',
    );
    // The bootstrapped store denies anyone without its token; `p2` finds it in the token file.
    const tokenFile = bootstrapTokenFile(work);
    store = createStore(bootstrapStoreUrl(work, kvPort), {
      token: await readTokenFile(tokenFile, { rootOwned: true, private: true }),
    });
    const env = { P2_STORE: bootstrapStoreUrl(work, kvPort), P2_TOKEN_FILE: tokenFile };

    const artifact = await buildArtifact(helloAppDir, join(work, 'artifacts'), 'hello', id);
    artifacts = await serveDirectory(join(work, 'artifacts'));
    const [key] = await loadSecretKeyFile(join(keys, 'p2universe-secring.gpg'));
    if (!key) throw new Error('fixture secret key missing');
    const signedHello = async (port: number) => {
      const manifest = new ManifestBuilder()
        .setId(hello)
        .setLaunchable('app', {
          launchableType: 'hoist',
          location: `${artifacts?.url}/${artifact.fileName}`,
        })
        .setConfig({ port, greeting: 'Hello' })
        .setStatusPort(port)
        .setStatusHttp(true)
        .setResourceLimits({ cpus: 1, memory: 2 ** 30 })
        .build();
      const file = join(work, `hello-${port}.yaml.asc`);
      await writeFile(file, await signManifest(new TextDecoder().decode(manifest.raw), key));
      return file;
    };

    // 1. hello as a legacy pod, through `p2 schedule`.
    const legacyPort = await freePort();
    await p2(['schedule', await signedHello(legacyPort), '--node', node], env);
    const legacyService = join(work, 'service', `${hello}__app__launch`);
    await waitFor(
      'the hello service to be supervised',
      async () => existsSync(join(legacyService, 'supervise', 'pid')),
      30_000,
    );
    await waitFor(
      'hello to answer',
      async () =>
        (await fetch(`http://127.0.0.1:${legacyPort}/`).then(
          (r) => r.text(),
          () => '',
        )) === 'Hello\n',
      30_000,
    );
    await waitFor(
      'hello and p2-preparer passing in the store',
      async () =>
        (await healthOf(hello)) === 'passing' && (await healthOf('p2-preparer')) === 'passing',
      60_000,
    );
    for (const controller of ['cpu', 'memory']) {
      // P2's flat name, below the parent the test host gives the preparer (cgroup_parent).
      expect(existsSync(`/sys/fs/cgroup/${controller}/${node}/${hello}__app`)).toBe(true);
    }
    const limitsPath = (
      await readFile(join(work, 'pods', hello, 'env', 'RESOURCE_LIMIT_PATH'), 'utf8')
    ).trim();
    const limits = await readFile(limitsPath, 'utf8');
    expect(limits).toContain(`pod:\n  ${hello}:\n    cpus: 1\n    memory: 1073741824`);
    expect(await readFile(join(work, 'hooked.log'), 'utf8')).toContain(
      `${hello} ${join(work, 'pods', hello)}`,
    );

    // 2. hello as a uuid pod, through `p2 schedule --uuid`.
    const uuidPort = await freePort();
    const { stdout } = await p2(
      ['schedule', await signedHello(uuidPort), '--node', node, '--uuid', '--json'],
      env,
    );
    const uuid = JSON.parse(stdout).podUniqueKey as string;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const uuidService = join(work, 'service', `${hello}-${uuid}__app__bin__launch`);
    await waitFor(
      'the uuid pod service to be supervised',
      async () => existsSync(join(uuidService, 'supervise', 'pid')),
      30_000,
    );
    await waitFor(
      'the uuid pod to answer',
      async () =>
        (await fetch(`http://127.0.0.1:${uuidPort}/`).then(
          (r) => r.text(),
          () => '',
        )) === 'Hello\n',
      30_000,
    );

    // 3. Process exits are recorded in the store.
    const code = 1 + Math.floor(Math.random() * 100);
    await fetch(`http://127.0.0.1:${uuidPort}/exit/${code}`).then(
      () => undefined,
      () => undefined,
    );
    const record = await waitFor(
      `exit code ${code} in the store`,
      async () => {
        const { value } = await (store as Store).get(`status/preparer/${node}/${uuid}`);
        const state = value ? JSON.parse(Buffer.from(value.value).toString('utf8')) : undefined;
        return state?.processes?.some(
          (p: { lastExit?: { exitCode: number } }) => p.lastExit?.exitCode === code,
        )
          ? state
          : undefined;
      },
      30_000,
    );
    expect(record.processes[0]).toMatchObject({
      launchable: 'app',
      service: `${hello}-${uuid}__app__bin__launch`,
    });
    // And where P2 recorded it (its acceptance scenario 4): the pod status's `process_status`.
    const podStatus = await waitFor(
      `exit code ${code} in status/pods/<uuid>/preparer`,
      async () => {
        const { value } = await (store as Store).get(`status/pods/${uuid}/preparer`);
        const status = value ? JSON.parse(Buffer.from(value.value).toString('utf8')) : undefined;
        return status?.process_status?.some(
          (p: { last_exit?: { exit_code: number } }) => p.last_exit?.exit_code === code,
        )
          ? status
          : undefined;
      },
      30_000,
    );
    expect(podStatus.status).toBe('launched');
    expect(podStatus.process_status).toContainEqual({
      launchable_id: 'app',
      entry_point: 'bin/launch',
      last_exit: {
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        exit_code: code,
        exit_status: 0,
      },
    });

    // 4. The opencontainer pod (P2: `hello-opencontainer`, `<pod>__hello__container`): a busybox
    // bundle run by runc as the pod's user, answering on its port, its health passing.
    await run('useradd', [
      '-M',
      '-U',
      '-d',
      join(work, 'pods', oci),
      '-s',
      '/usr/sbin/nologin',
      oci,
    ]);
    const uid = Number((await run('id', ['-u', oci])).stdout);
    const gid = Number((await run('id', ['-g', oci])).stdout);
    const ociPort = await freePort();
    const bundleDir = await writeBusyboxBundle(
      join(work, 'oci-src'),
      busyboxConfig({ uid, gid }, ['/bin/httpd', '-f', '-p', `127.0.0.1:${ociPort}`, '-h', '/www']),
    );
    await run('mkdir', ['-p', join(bundleDir, 'rootfs/www')]);
    await writeFile(join(bundleDir, 'rootfs/www/index.html'), 'Hello\n');
    await writeFile(join(bundleDir, 'rootfs/www/_status'), 'ok\n');
    const bundle = await buildArtifact(
      bundleDir,
      join(work, 'artifacts'),
      'opencontainer-hello',
      id,
    );
    const ociManifest = new ManifestBuilder()
      .setId(oci)
      .setRunAs(oci)
      .setLaunchable('hello', {
        launchableType: 'opencontainer',
        location: `${artifacts?.url}/${bundle.fileName}`,
      })
      .setConfig({ port: ociPort })
      .setStatusPort(ociPort)
      .setStatusHttp(true)
      .build();
    const ociFile = join(work, 'oci.yaml.asc');
    await writeFile(ociFile, await signManifest(new TextDecoder().decode(ociManifest.raw), key));
    await p2(['schedule', ociFile, '--node', node], env);
    await waitFor(
      'the container service to be supervised',
      async () => existsSync(join(work, 'service', `${oci}__hello__container`, 'supervise', 'pid')),
      30_000,
    );
    await waitFor(
      'the container to answer',
      async () =>
        (await fetch(`http://127.0.0.1:${ociPort}/`).then(
          (r) => r.text(),
          () => '',
        )) === 'Hello\n',
      60_000,
    );
    await waitFor(
      'the container pod passing in the store',
      async () => (await healthOf(oci)) === 'passing',
      60_000,
    );
  });
});
