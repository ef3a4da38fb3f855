/**
 * Delegated signing on three hosts (issue 18): every host runs a real p2-preparer with a keyring
 * policy (`auth: {type: keyring, delegation: {keyring}}`), the built p2-controllers signs what it
 * writes into intent with its own key (`--sign-key`), and operators sign records with the built
 * `p2` (`rc create --sign-key`, `rc sign`, `rc update-manifest --sign-key`). Keys are made by
 * real gpg. The authorized chain runs; a forged RC, a record tampered with in the store, and the
 * controllers' key signing a pod no signed record asked for are refused on every host while the
 * running version keeps serving. Needs root (netns, runit, users, cgroups); everything it makes is
 * removed in afterAll, also after a failure.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DelegatedSigner, loadSecretKeyFile } from '@p2/auth';
import {
  decodePreparerStatus,
  decodeRc,
  encodeRc,
  intentKey,
  LabelStore,
  preparerStatusKey,
  rcKey,
} from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
import { p2Runner } from '../src/cli.js';
import {
  type Cluster,
  helloManifest,
  manifestFile,
  minServing,
  pollApps,
  QUICK_CONTROLLER_ARGS,
  startCluster,
  startControllersProcess,
  tearDownClusterAfterAll,
  transitions,
  waitForPreparers,
} from '../src/multi-host.js';
import { type Proc, waitFor } from '../src/processes.js';

const run = promisify(execFile);
const APP_PORT = 18280;
const FORGED_PORT = 18290;
const DS_PORT = 18300;

let keys: string;
let cluster: Cluster;
let storeUrl: string;
let controllers: Proc | undefined;
let poller: ReturnType<typeof pollApps> | undefined;
const pods = { app: '', forged: '', rogue: '', ds: '' };
let rcId = '';
let forgedRcId = '';
const { p2, p2Json, killAll } = p2Runner(() => storeUrl);

/** A fresh ed25519 signing key made by real gpg: its armored public and secret key files. */
async function gpgKey(name: string): Promise<{ pub: string; sec: string }> {
  const home = join(keys, `gnupg-${name}`);
  await run('mkdir', ['-m', '700', home]);
  const gpg = (...args: string[]) =>
    run('gpg', [
      '--homedir',
      home,
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      ...args,
    ]);
  await gpg('--quick-gen-key', `${name} <${name}@p2t.example>`, 'ed25519', 'sign', 'never');
  const pub = join(keys, `${name}.pub.asc`);
  const sec = join(keys, `${name}.sec.asc`);
  await writeFile(pub, (await gpg('--armor', '--export')).stdout);
  await writeFile(sec, (await gpg('--armor', '--export-secret-keys')).stdout, { mode: 0o600 });
  await chmod(sec, 0o600);
  await run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']).catch(() => undefined);
  return { pub, sec };
}

/** The preparer's state record for `pod` on every host (undefined where there is none yet). */
async function states(pod: string) {
  return Promise.all(
    cluster.hosts.map(async (h) => {
      const e = (await cluster.store.get(preparerStatusKey(h.node, pod))).value;
      return e ? decodePreparerStatus(e.value) : undefined;
    }),
  );
}

async function refusedEverywhere(pod: string, code: string, what: string) {
  await waitFor(
    `every host to refuse ${what} with ${code}`,
    async () => (await states(pod)).every((s) => s?.state === 'unauthorized' && s.code === code),
    40_000,
    250,
  );
}

const serving = (greeting: string) => () =>
  poller?.latest().every((s) => s?.greeting === greeting) ?? false;

let deployer: { pub: string; sec: string };
let stranger: { pub: string; sec: string };
let controllerKey: { pub: string; sec: string };

beforeAll(async () => {
  keys = await mkdtemp(join(tmpdir(), 'p2t-deleg-keys-'));
  [deployer, stranger, controllerKey] = await Promise.all([
    gpgKey('deployer'),
    gpgKey('stranger'),
    gpgKey('controllers'),
  ]);
  cluster = await startCluster(3, {
    preparerConfig: () => ({
      auth: { type: 'keyring', keyring: deployer.pub, delegation: { keyring: controllerKey.pub } },
    }),
  });
  storeUrl = cluster.storeUrl;
  pods.app = `p2t-dlg-${cluster.id}`;
  pods.forged = `p2t-dlgf-${cluster.id}`;
  pods.rogue = `p2t-dlgr-${cluster.id}`;
  pods.ds = `p2t-dlgd-${cluster.id}`;
  for (const pod of Object.values(pods)) await cluster.createPodUser(pod);
  const labels = new LabelStore(cluster.store);
  for (const h of cluster.hosts) await labels.setLabels('node', h.node, { role: 'web' });
  await waitForPreparers(cluster);
  controllers = startControllersProcess(storeUrl, `${cluster.work}/logs`, [
    ...QUICK_CONTROLLER_ARGS,
    '--sign-key',
    controllerKey.sec,
  ]);
});

tearDownClusterAfterAll(() => ({ cluster, controllers, poller }), {
  killAll,
  more: async () => {
    if (keys) await rm(keys, { recursive: true, force: true });
  },
});

describe('delegated signing on three hosts with keyring policies', () => {
  it('an RC a deployer signed once runs on every host from the intent the controllers signed', async () => {
    const v1 = await manifestFile(cluster, pods.app, 'v1', APP_PORT, 'hello v1');
    const rc = await p2Json<{ id: string; deployerSigned?: boolean }>([
      'rc',
      'create',
      '-m',
      v1.path,
      '-n',
      'role=web',
      '-r',
      '3',
      '--sign-key',
      deployer.sec,
    ]);
    expect(rc.deployerSigned).toBe(true);
    rcId = rc.id;
    poller = pollApps(cluster, APP_PORT);
    await waitFor('all three hosts to serve v1', async () => serving('hello v1')(), 60_000);
    // What the hosts run is the controllers' signature over the deployer's manifest, unchanged.
    const intent = (await cluster.store.get(intentKey(cluster.hosts[0]!.node, pods.app))).value;
    const written = parseManifest(intent!.value);
    expect(written.clearsigned).toBeDefined();
    expect(written.sha()).toBe(v1.manifest.sha());
    expect((await states(pods.app)).map((s) => s?.state)).toEqual([
      'running',
      'running',
      'running',
    ]);
  });

  it('a forged RC is refused on every host, and runs once a deployer signs it', async () => {
    const forged = await manifestFile(cluster, pods.forged, 'v1', FORGED_PORT, 'forged');
    const rc = await p2Json<{ id: string }>([
      'rc',
      'create',
      '-m',
      forged.path,
      '-n',
      'role=web',
      '-r',
      '3',
      '--sign-key',
      stranger.sec,
    ]);
    forgedRcId = rc.id;
    await refusedEverywhere(pods.forged, 'P2_AUTH_UNKNOWN_SIGNER', 'an RC signed by a stranger');
    const status = (await states(pods.forged))[0];
    expect(status?.error).toContain(`replication_controllers/${rc.id}`);
    // The deployer signs the same record: hosts check the record again and run it.
    const signed = await p2(['rc', 'sign', rc.id, '--key', deployer.sec, '--json']);
    expect(signed.code, signed.err).toBe(0);
    await waitFor(
      'every host to run the RC once signed',
      async () => (await states(pods.forged)).every((s) => s?.state === 'running'),
      40_000,
      250,
    );
  });

  it('a record tampered with in the store and a pod no record asked for are refused; v1 keeps serving', async () => {
    const from = Date.now();
    // Someone with store access swaps the signed RC's manifest and keeps the deployer's signature.
    const entry = (await cluster.store.get(rcKey(rcId))).value!;
    const stored = decodeRc(entry.value);
    const v2 = await manifestFile(cluster, pods.app, 'v2', APP_PORT, 'tampered v2');
    await cluster.store.put(rcKey(rcId), encodeRc({ ...stored, manifest: v2.manifest }));
    await refusedEverywhere(pods.app, 'P2_AUTH_SIGNATURE_MISMATCH', 'the tampered RC');

    // The controllers' key signs a pod nobody asked for, naming an RC a deployer did sign.
    const signer = new DelegatedSigner((await loadSecretKeyFile(controllerKey.sec))[0]!);
    const rogue = helloManifest(cluster, pods.rogue, await cluster.artifact('v1'), 18295, 'rogue');
    const bytes = await signer.sign(rogue.text(), rogue.sha(), {
      kind: 'replication_controllers',
      id: forgedRcId,
    });
    for (const h of cluster.hosts) await cluster.store.put(intentKey(h.node, pods.rogue), bytes);
    await refusedEverywhere(pods.rogue, 'P2_AUTH_DELEGATION_MISMATCH', 'a pod no record asked for');

    expect((await states(pods.app)).map((s) => s?.sha)).toEqual(
      cluster.hosts.map(() => v2.manifest.sha()),
    );
    const samples = poller?.samples ?? [];
    expect(
      minServing(samples, 3, from, Date.now(), (g) => g === 'hello v1'),
      transitions(samples, from),
    ).toBe(3);

    // The deployer updates the RC properly: v2 (signed) reaches every host.
    const v3 = await manifestFile(cluster, pods.app, 'v2', APP_PORT, 'hello v2');
    const updated = await p2([
      'rc',
      'update-manifest',
      rcId,
      v3.path,
      '--sign-key',
      deployer.sec,
      '--json',
    ]);
    expect(updated.code, updated.err).toBe(0);
    await waitFor(
      'all three hosts to serve the signed v2',
      async () => serving('hello v2')(),
      60_000,
    );
  });

  it('a daemon set signed on create and on update runs each version on every host', async () => {
    const running = (sha: string) => async () =>
      (await states(pods.ds)).every((st) => st?.state === 'running' && st.sha === sha);
    const v1 = await manifestFile(cluster, pods.ds, 'v1', DS_PORT, 'daemon v1');
    const ds = await p2Json<{ id: string; deployerSigned?: boolean }>([
      'ds',
      'create',
      '-m',
      v1.path,
      '-n',
      'role=web',
      '--cluster-name',
      'blue',
      '--sign-key',
      deployer.sec,
    ]);
    expect(ds.deployerSigned).toBe(true);
    await waitFor(
      'the daemon set to run v1 on every host',
      running(v1.manifest.sha()),
      60_000,
      250,
    );
    const v2 = await manifestFile(cluster, pods.ds, 'v2', DS_PORT, 'daemon v2');
    await p2Json(['ds', 'update', ds.id, '-m', v2.path, '--sign-key', deployer.sec]);
    await waitFor(
      'the daemon set to run v2 on every host',
      running(v2.manifest.sha()),
      60_000,
      250,
    );
  });
});
