/**
 * p2-bootstrap against an existing etcd (issue 24): a real etcd member serving TLS, requiring client
 * certificates (`--client-cert-auth`) and with authentication on. The host's etcd user is the
 * client certificate's CN (`p2t-preparer`, etcd's certificate login), granted read/write on the
 * store's prefix only. `p2-bootstrap --store etcd+https://…/<prefix>?ca=&cert=&key=` installs only
 * the preparer (no embedded store), whose config carries that store; the preparer shows up in intent
 * and reality on etcd, and runs an app scheduled with `p2 schedule --store etcd+https://…`. Needs
 * root; every process, user, cgroup and directory made is removed in afterAll, also after a failure.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createStore, type Store } from '@p2/kv';
import { ManifestBuilder, parseManifest } from '@p2/manifest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type EtcdCluster, startEtcd } from '../../packages/kv/src/etcd-test-support.js';
import { makeTestCertificates } from '../../packages/kv/src/test-support.js';
import {
  buildArtifact,
  type FileServer,
  helloAppDir,
  serveDirectory,
  tempDir,
} from '../src/artifacts.js';
import { runBootstrap, teardownBootstrappedHost } from '../src/bootstrap.js';
import { p2Runner } from '../src/cli.js';
import { freePort, waitFor } from '../src/processes.js';

const run = promisify(execFile);
const id = randomBytes(3).toString('hex');
const node = `p2t-boote-${id}`;
const appPod = `p2t-helloe-${id}`;
const prefix = `p2t-boot-${id}`;
let work = '';
let etcd: EtcdCluster | undefined;
let store: Store | undefined;
let artifacts: FileServer | undefined;
let storeUrl = '';
const { p2, killAll } = p2Runner(() => storeUrl);

afterEach(async (context) => {
  if (context.task.result?.state !== 'fail' || !work) return;
  // The preparer's output (runit's svlogd, or the pod's log dir): what it said about the store.
  const { stdout } = await run('sh', [
    '-c',
    `find "${work}" -name current -path '*p2-preparer*' -type f | xargs -r tail -n 40`,
  ]).catch(() => ({ stdout: '' }));
  console.log(`--- preparer log ---\n${stdout}`);
});

afterAll(async () => {
  killAll();
  await store?.close();
  await artifacts?.close();
  await etcd?.stop();
  if (work) await teardownBootstrappedHost(work, { node, users: [appPod] });
});

/** `etcdctl` as etcd's root user (the first client certificate login is `p2t-preparer`). */
async function etcdctl(certs: string, endpoint: string, args: string[]): Promise<void> {
  await run(
    'etcdctl',
    [
      ...['--endpoints', `https://${endpoint}`, '--cacert', join(certs, 'ca.pem')],
      ...['--cert', join(certs, 'cli.pem'), '--key', join(certs, 'cli.key')],
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 },
  );
}

describe('p2-bootstrap --store etcd+https://…', () => {
  it('installs only the preparer against an existing etcd with TLS, client certificates and auth; an app runs', async () => {
    work = await tempDir('e2e-bootstrap-etcd');
    await chmod(work, 0o755);
    const certs = join(work, 'certs');
    await mkdir(certs, { mode: 0o700 });
    makeTestCertificates(certs, { client: true });
    etcd = await startEtcd(1, {
      certFile: join(certs, 'srv.pem'),
      keyFile: join(certs, 'srv.key'),
      caFile: join(certs, 'ca.pem'),
      clientCert: { certFile: join(certs, 'cli.pem'), keyFile: join(certs, 'cli.key') },
    });
    const endpoint = etcd.endpoints[0] ?? '';
    // Auth on: etcd needs a root user; the host's user (the certificate's CN) gets its prefix only.
    const pw = randomBytes(12).toString('hex');
    await etcdctl(certs, endpoint, ['user', 'add', 'root', `--new-user-password=${pw}`]);
    await etcdctl(certs, endpoint, ['user', 'grant-role', 'root', 'root']);
    await etcdctl(certs, endpoint, ['role', 'add', 'p2t-host']);
    await etcdctl(certs, endpoint, [
      ...['role', 'grant-permission', 'p2t-host', 'readwrite', '--prefix=true'],
      `${prefix}/`,
    ]);
    await etcdctl(certs, endpoint, ['user', 'add', 'p2t-preparer', '--no-password']);
    await etcdctl(certs, endpoint, ['user', 'grant-role', 'p2t-preparer', 'p2t-host']);
    await etcdctl(certs, endpoint, ['--user', `root:${pw}`, 'auth', 'enable']);

    const tls = `ca=${join(certs, 'ca.pem')}&cert=${join(certs, 'cli.pem')}&key=${join(certs, 'cli.key')}`;
    storeUrl = `etcd+https://${endpoint}/${prefix}?${tls}`;
    // Outside its prefix the host's user is refused: auth is really on.
    const outside = createStore(`etcd+https://${endpoint}/p2t-other-${id}?${tls}`);
    const refused = await outside.put('x', 'y').catch((e: unknown) => e);
    await outside.close();
    expect((refused as { code?: string }).code).toBe('P2_KV_PERMISSION_DENIED');

    const statusPort = await freePort();
    const boot = () =>
      runBootstrap(work, {
        node,
        kvPort: 1,
        statusPort,
        kvUser: `p2t-kvnone-${id}`,
        tokenFile: false,
        extraArgs: ['--store', storeUrl],
      });
    const first = await boot();
    expect(first.pods).toEqual([
      { pod: 'store', action: 'external' },
      { pod: 'p2-preparer', action: 'installed' },
    ]);
    expect(first.store).toBe(storeUrl.replace(/key=[^&]*$/, 'key=***'));
    expect(first.token).toBeUndefined();
    expect(await (await fetch(`http://127.0.0.1:${statusPort}/_status`)).text()).toBe(
      'p2-preparer OK',
    );
    store = createStore(storeUrl);
    // Only the preparer: in intent and reality on etcd, configured with that store; no kv-server.
    expect((await store.keys(`intent/${node}/`)).value).toEqual([`intent/${node}/p2-preparer`]);
    expect((await store.keys(`reality/${node}/`)).value).toEqual([`reality/${node}/p2-preparer`]);
    const intent = parseManifest(
      (await store.get(`intent/${node}/p2-preparer`)).value?.value ?? new Uint8Array(),
    );
    const config = (intent.config as { preparer: Record<string, unknown> }).preparer;
    expect(config.store).toBe(storeUrl);
    expect(config.consul_token_path).toBeUndefined();
    await expect(run('id', [`p2t-kvnone-${id}`])).rejects.toThrow();

    // Idempotent: a second run changes nothing.
    const second = await boot();
    expect(second.pods.map((p) => p.action)).toEqual(['external', 'unchanged']);

    // An app scheduled with `p2 schedule --store etcd+https://…` runs on this host.
    const artifact = await buildArtifact(helloAppDir, join(work, 'artifacts'), 'hello', id);
    artifacts = await serveDirectory(join(work, 'artifacts'));
    const appPort = await freePort();
    const app = new ManifestBuilder()
      .setId(appPod)
      .setLaunchable('app', {
        launchableType: 'hoist',
        location: `${artifacts.url}/${artifact.fileName}`,
      })
      .setConfig({ port: appPort, greeting: 'on etcd' })
      .setStatusPort(appPort)
      .setStatusHttp(true)
      .build();
    await writeFile(join(work, 'app.yaml'), app.raw);
    const scheduled = await p2(['schedule', join(work, 'app.yaml'), '--node', node]);
    expect(scheduled, scheduled.err).toMatchObject({ code: 0 });
    await waitFor(
      'the app to answer',
      async () =>
        (await fetch(`http://127.0.0.1:${appPort}/`).then(
          (r) => r.text(),
          () => undefined,
        )) === 'on etcd\n',
      60_000,
    );
    await waitFor(
      'the app in reality and passing on etcd',
      async () => {
        const health = (await store?.get(`health/${appPod}/${node}`))?.value;
        return (
          (await store?.get(`reality/${node}/${appPod}`))?.value !== undefined &&
          health !== undefined &&
          JSON.parse(Buffer.from(health.value).toString('utf8')).Status === 'passing'
        );
      },
      30_000,
    );
  });
});
