/**
 * P2's own sample preparer config (`fixtures/p2/config/preparer-config.yaml`, P2's
 * pkg/preparer/test_preparer_config.yaml) starts a preparer that implements every key it holds
 * (issue 16). First `p2-preparer --check-config` on the unchanged file; then the same file with
 * only the values that name this host changed (every key kept) runs the built p2-preparer against
 * a real p2-kv-server (HTTPS, ACL token), real runit, users, cgroups and gpg-style signatures, and
 * each key's effect is checked:
 *
 * - node_name, consul_address, consul_https, consul_token_path: the preparer reads intent of its
 *   node and writes reality to a store that speaks only HTTPS and refuses requests without the token;
 * - auth (keyring): a manifest signed by the keyring's key runs, one signed by another key is refused;
 * - hooks_directory, hooks_required: the required hook `basename__req-hook` runs for the pod;
 * - log_exec: the pod's output reaches its log directory through p2-log-bridge, run as nobody;
 * - finish_exec: the app's exit runs `touch` (as nobody);
 * - extra_log_destinations: the preparer's JSON log entries reach the unix socket;
 * - require_file: without the file the service does not start again; with it back, it does.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { signManifest } from '@p2/auth';
import { detectCgroups, removePodCgroups } from '@p2/cgroups';
import { preparerStatusKey } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { ManifestBuilder } from '@p2/manifest';
import { RunsvDir, readLastExit, readStatus } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { newKey } from '../../packages/auth/src/test-support.js';
import { makeTestCertificates } from '../../packages/kv/src/test-support.js';
import {
  type BuiltArtifact,
  buildArtifact,
  type FileServer,
  helloAppDir,
  repoRoot,
  serveDirectory,
  tempDir,
} from '../src/artifacts.js';
import {
  freePort,
  type Proc,
  startKvServerProcess,
  startPreparerProcess,
  waitFor,
} from '../src/processes.js';

const run = promisify(execFile);
const fixture = join(repoRoot, 'fixtures/p2/config/preparer-config.yaml');
const preparerCli = join(repoRoot, 'apps/preparer/dist/cli.js');
/** The keys of P2's sample, in its order: each one's effect is checked below. */
const SAMPLE_KEYS = [
  'node_name',
  'consul_address',
  'consul_https',
  'consul_token_path',
  'hooks_directory',
  'auth',
  'extra_log_destinations',
  'log_exec',
  'finish_exec',
  'require_file',
  'hooks_required',
];
const NOBODY = 65534;

const id = randomBytes(3).toString('hex');
const node = `p2t-sample-${id}`;
const pod = `p2t-smp-${id}`;
const service = `${pod}__app__launch`;
const token = `p2t-${randomBytes(12).toString('hex')}`;
let work = '';
let failed = false;
let kv: Proc | undefined;
let preparer: Proc | undefined;
let store: Store | undefined;
let artifacts: FileServer | undefined;
let socketServer: Server | undefined;
const connections: Socket[] = [];
/** What the extra log destination received: one entry per connection. */
const socketEntries: string[] = [];
let hello: BuiltArtifact;
let signer: Awaited<ReturnType<typeof newKey>>;
let port = 0;
let statusPort = 0;
let kvPort = 0;
let sample: { preparer: Record<string, unknown> };

const path = (...parts: string[]) => join(work, ...parts);

async function uidOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/\nUid:\t(\d+)\t/.exec(status)?.[1]);
}

const answer = async (p: string = '/') =>
  (await fetch(`http://127.0.0.1:${port}${p}`).catch(() => undefined))?.text();

async function podState(): Promise<{ state: string; code?: string; sha?: string } | undefined> {
  const { value } = await (store as Store).get(preparerStatusKey(node, pod));
  return value ? JSON.parse(Buffer.from(value.value).toString('utf8')) : undefined;
}

function manifestText(greeting: string): string {
  const manifest = new ManifestBuilder()
    .setId(pod)
    .setLaunchable('app', {
      launchableType: 'hoist',
      location: `${artifacts?.url}/${hello.fileName}`,
      restartTimeout: '5s',
    })
    .setConfig({ port, greeting })
    .setStatusPort(port)
    .setStatusHttp(true)
    .build();
  return new TextDecoder().decode(manifest.raw);
}

beforeAll(async () => {
  sample = parse(await readFile(fixture, 'utf8')) as { preparer: Record<string, unknown> };
  work = await tempDir('sample');
  await chmod(work, 0o755); // the pod's user, and nobody, reach their files below it
  for (const dir of ['artifacts', 'pods', 'service', 'kv', 'logs', 'hooks'])
    await mkdir(path(dir), { mode: 0o755 });
  // finish_exec runs as nobody: it may write this directory only.
  await mkdir(path('finished'), { mode: 0o700 });
  await chown(path('finished'), NOBODY, NOBODY);

  hello = await buildArtifact(helloAppDir, path('artifacts'), 'hello', id);
  artifacts = await serveDirectory(path('artifacts'));

  // The store: HTTPS with a throwaway CA, and an ACL token in a root-owned 0600 file.
  await mkdir(path('certs'), { mode: 0o700 });
  makeTestCertificates(path('certs'));
  await writeFile(path('consul.token'), `${token}\n`, { mode: 0o600 });
  kvPort = await freePort();
  kv = await startKvServerProcess(path('kv'), kvPort, path('logs'), {
    tls: { cert: path('certs/srv.pem'), key: path('certs/srv.key'), ca: path('certs/ca.pem') },
    aclToken: token,
  });
  store = createStore(`consul+https://127.0.0.1:${kvPort}`, {
    tlsCaFile: path('certs/ca.pem'),
    token,
  });

  // The keyring: a fresh key's public half.
  signer = await newKey('p2t-sample-deployer');
  await writeFile(path('keyring.asc'), signer.armoredPublic, { mode: 0o644 });

  // The required hook (run as root for every event): records what it was run for.
  await writeFile(
    path('hooks', 'basename__req-hook'),
    `#!/bin/sh\necho "$HOOK_EVENT $HOOKED_POD_ID" >> ${path('hook-events')}\n`,
    { mode: 0o755 },
  );

  // The extra log destination: a unix socket (in a root-owned directory, as the preparer requires).
  socketServer = createServer((socket) => {
    connections.push(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => socketEntries.push(Buffer.concat(chunks).toString('utf8')));
  });
  const server = socketServer;
  await new Promise<void>((resolve) => server.listen(path('log.sock'), resolve));

  await writeFile(path('may-run'), '');

  // The sample with only the values that name this host changed; every key of it is kept.
  const p = structuredClone(sample.preparer);
  p.node_name = node;
  p.consul_address = `127.0.0.1:${kvPort}`;
  p.consul_https = true;
  p.consul_token_path = path('consul.token');
  p.hooks_directory = path('hooks');
  p.auth = { ...(p.auth as object), keyring: path('keyring.asc') };
  p.extra_log_destinations = [
    { ...(p.extra_log_destinations as object[])[0], path: path('log.sock') },
  ];
  // P2's form of a log bridge in front of svlogd; log commands run as nobody with
  // PATH=/usr/local/bin:/usr/bin:/bin, so the bridge is named by its absolute path (node is on it).
  p.log_exec = [join(repoRoot, 'apps/client/dist/log-bridge-cli.js'), 'svlogd', '-tt', './main'];
  p.finish_exec = ['touch', path('finished', 'process_did_finish')];
  p.require_file = path('may-run');
  statusPort = await freePort();
  // Keys the sample lacks that this test host needs: the store's CA (a throwaway one), where pods
  // and runit services go, where the status server listens, where the replay guard (on by default
  // with a keyring) keeps its state, health checks on loopback, and no p2-preparer pod in intent.
  Object.assign(p, {
    ca_file: path('certs/ca.pem'),
    pod_root: path('pods'),
    service_root: path('service'),
    status_port: statusPort,
    replay_guard: { state_file: path('replay', 'state.json') },
    auto_revert: { state_file: path('revert', 'reverted.json') },
    health_check_host: '127.0.0.1',
    require_preparer_in_intent: false,
  });
  await writeFile(path('preparer.yaml'), stringify({ preparer: p }));

  preparer = startPreparerProcess(path('preparer.yaml'), path('logs'));
  await waitFor(
    'the preparer status server',
    async () =>
      (await (
        await fetch(`http://127.0.0.1:${statusPort}/_status`).catch(() => undefined)
      )?.text()) === 'p2-preparer OK',
    30_000,
  );
});

afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  if (failed && preparer)
    console.log(`--- preparer log (${node}) ---\n${(await preparer.log()).slice(-10_000)}`);
  await preparer?.stop().catch(() => undefined);
  if (work) {
    const runsvdir = new RunsvDir({ root: path('service'), slots: 0 });
    await runsvdir.start().catch(() => undefined);
    await runsvdir.stop({ stopServices: true }).catch(() => undefined);
  }
  await store?.close().catch(() => undefined);
  await kv?.stop().catch(() => undefined);
  await artifacts?.close();
  for (const socket of connections) socket.destroy();
  socketServer?.close();
  // P2's flat cgroup names (<pod>__<launchable> at each controller's root).
  const hierarchy = await detectCgroups().catch(() => undefined);
  if (hierarchy) await removePodCgroups(hierarchy, {}, { node, pod }).catch(() => undefined);
  if (await findUser(pod)) await removeUser(pod, { removeGroup: true }).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

describe("P2's sample preparer config", () => {
  it('--check-config: the unchanged file is valid and every key of it is implemented', async () => {
    expect(Object.keys(sample.preparer)).toEqual(SAMPLE_KEYS);
    const { stdout } = await run(process.execPath, [
      preparerCli,
      '--check-config',
      fixture,
      '--json',
    ]);
    const report = JSON.parse(stdout) as {
      valid: boolean;
      keys: Array<{ key: string; status: string; origin?: string }>;
    };
    expect(report.valid).toBe(true);
    expect(report.keys).toEqual(
      SAMPLE_KEYS.map((key) => ({ key, origin: 'P2', status: 'implemented' })),
    );
  });

  it('deploys a pod signed by its keyring over HTTPS with its token: hooks, log bridge, reality', async () => {
    port = await freePort();
    const signed = await signManifest(manifestText('sampled'), signer.privateKey);
    await (store as Store).put(`intent/${node}/${pod}`, signed);
    await waitFor('the pod to answer', async () => (await answer()) === 'sampled\n', 90_000);

    // consul_*: reality was written to the HTTPS store with the token; without it the store
    // refuses, and it does not speak plain HTTP.
    await waitFor('reality', async () => {
      const { value } = await (store as Store).get(`reality/${node}/${pod}`);
      return value && Buffer.from(value.value).toString('utf8') === signed;
    });
    const noToken = createStore(`consul+https://127.0.0.1:${kvPort}`, {
      tlsCaFile: path('certs/ca.pem'),
    });
    await expect(noToken.get(`reality/${node}/${pod}`)).rejects.toThrow();
    await noToken.close();
    const plain = await fetch(`http://127.0.0.1:${kvPort}/v1/kv/reality/${node}/${pod}`, {
      headers: { 'x-consul-token': token },
    }).catch(() => undefined);
    expect(plain?.status).not.toBe(200);

    // hooks_directory + hooks_required: the required hook ran for the pod, in order.
    const events = (await readFile(path('hook-events'), 'utf8')).split('\n');
    const forPod = events.filter((e) => e.endsWith(` ${pod}`)).map((e) => e.split(' ')[0]);
    for (const event of ['before_install', 'after_install', 'before_launch', 'after_launch'])
      expect(forPod).toContain(event);
    expect(forPod.indexOf('before_install')).toBeLessThan(forPod.indexOf('after_launch'));

    // log_exec: the service's log process is p2-log-bridge as nobody, and the app's output is in
    // svlogd's ./main/current below the service's log directory.
    const dir = path('service', service);
    const log = await readFile(join(dir, 'log', 'run'), 'utf8');
    expect(log).toContain(join(repoRoot, 'apps/client/dist/log-bridge-cli.js'));
    const logPid = await waitFor('the log service', async () => (await readStatus(dir)).log?.pid);
    expect(await uidOf(logPid)).toBe(NOBODY);
    expect(await readFile(`/proc/${logPid}/cmdline`, 'utf8')).toContain('log-bridge-cli.js');
    const current = await waitFor('the app output in the log', async () => {
      const text = await readFile(join(dir, 'log', 'main', 'current'), 'utf8').catch(() => '');
      return text.includes(`hello: listening on 127.0.0.1:${port}`) ? text : undefined;
    });
    expect(current).toMatch(/^\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d\.\d+ hello: listening/m);
    const main = await stat(join(dir, 'log', 'main', 'current'));
    expect(main.uid).toBe(NOBODY);

    // extra_log_destinations: the preparer's own JSON log entries, one per connection.
    const entries = await waitFor('a log entry about the pod at the socket', async () => {
      const parsed = socketEntries.map((e) => JSON.parse(e) as Record<string, unknown>);
      return parsed.some((e) => JSON.stringify(e).includes(pod)) ? parsed : undefined;
    });
    expect(entries.every((e) => e.name === 'p2-preparer' && e.node === node)).toBe(true);
  });

  it('finish_exec runs as nobody when the app exits; require_file keeps a service from starting', async () => {
    const dir = path('service', service);
    const marker = path('finished', 'process_did_finish');
    expect(existsSync(marker)).toBe(false);
    // SIGKILL: a death by a signal (runit's finish arguments are -1 9, which reach the command in
    // P2_EXIT_CODE/P2_EXIT_STATUS: on its command line touch would take -1 for an option).
    const first = (await readStatus(dir)).pid as number;
    process.kill(first, 'SIGKILL');
    await waitFor('finish_exec to touch its file', async () => existsSync(marker));
    expect((await stat(marker)).uid).toBe(NOBODY);
    expect(await readLastExit(dir)).toMatchObject({ exitCode: null, signal: 9 });
    await waitFor('the app to answer again', async () => (await answer()) === 'sampled\n');

    // Without require_file's file the run script refuses (exit 111), which finish records.
    await rm(path('may-run'));
    await rm(marker);
    process.kill((await readStatus(dir)).pid as number, 'SIGTERM');
    await waitFor(
      'a refused start',
      async () => (await readLastExit(dir))?.exitCode === 111,
      30_000,
    );
    expect(await answer()).toBeUndefined();
    await writeFile(path('may-run'), '');
    await waitFor(
      'the app to answer once the file is back',
      async () => (await answer()) === 'sampled\n',
    );
  });

  it('auth: a manifest signed by a key not in the keyring is refused and the pod keeps running', async () => {
    const stranger = await newKey('p2t-sample-stranger');
    const forged = await signManifest(manifestText('stranger'), stranger.privateKey);
    await (store as Store).put(`intent/${node}/${pod}`, forged);
    const state = await waitFor('the refusal', async () => {
      const s = await podState();
      return s?.state === 'unauthorized' ? s : undefined;
    });
    expect(state.code).toBe('P2_AUTH_UNKNOWN_SIGNER');
    expect(await answer()).toBe('sampled\n');
  });
});
