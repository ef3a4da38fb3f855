/**
 * Delegated signing through the real farms and a real store: a deployer signs an RC and a daemon
 * set once, the farms sign what they write into intent, and a host policy reading the records
 * from the store accepts exactly that chain (the three-host version runs in e2e).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthErrorCodes,
  DelegatedSigner,
  Keyring,
  KeyringDeployerPolicy,
  signDelegationStatement,
} from '@p2/auth';
import { DsStore, updateDaemonSet } from '@p2/daemon-set';
import { intentKey, LabelStore, StoreDelegationRecords } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningControllerFarms, startControllerFarms } from './controller-farms.js';

let dir: string;
let server: KvServer;
let store: Store;
let running: RunningControllerFarms | undefined;
let deployerKey: openpgp.PrivateKey;
let policy: (node: string) => KeyringDeployerPolicy;

const manifestText = (pod: string, v: number) =>
  `id: ${pod}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/${pod}_${v}.tar.gz\nconfig:\n  v: ${v}\n`;

async function key(name: string) {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name, email: `${name}@p2t.example` }],
    format: 'object',
  });
  return { privateKey, armored: publicKey.armor() };
}

async function intentFor(node: string, pod: string, sha?: string) {
  for (let i = 0; i < 200; i++) {
    const entry = (await store.get(intentKey(node, pod))).value;
    if (entry) {
      const m = parseManifest(entry.value);
      if (!sha || m.sha() === sha) return m;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no intent for ${pod} on ${node}`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-delegation-'));
  server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0, sessionTtlMinMs: 1_000 });
  store = createStore(`consul://127.0.0.1:${server.port}`);
  const [deployer, controllers] = await Promise.all([key('deployer'), key('controllers')]);
  deployerKey = deployer.privateKey;
  const deployers = await Keyring.fromBytes(deployer.armored);
  const controllerRing = await Keyring.fromBytes(controllers.armored);
  policy = (node) =>
    new KeyringDeployerPolicy({
      keyring: deployers,
      delegation: { keyring: controllerRing, records: new StoreDelegationRecords(store, node) },
    });
  const labels = new LabelStore(store);
  await labels.setLabels('node', 'p2t-dn1', { role: 'web' });
  await labels.setLabels('node', 'p2t-dn2', { role: 'web' });
  running = startControllerFarms({
    store,
    farms: ['rc', 'ds'],
    resyncMs: 200,
    sessionTtlMs: 2_000,
    lockDelayMs: 10,
    intentSigner: new DelegatedSigner(controllers.privateKey),
  });
});
afterAll(async () => {
  await running?.stop();
  await store?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('delegated signing through the farms', () => {
  const sign = (s: Parameters<typeof signDelegationStatement>[0]) =>
    signDelegationStatement(s, deployerKey);

  it('an RC signed once places signed intent that hosts accept; an unsigned one is refused', async () => {
    const rcs = new RcStore(store);
    const signed = await rcs.create({
      manifest: parseManifest(manifestText('p2t-deleg-rc', 1)),
      nodeSelector: 'role=web',
      replicasDesired: 2,
      sign,
    });
    expect(signed.deployerSignature).toContain('BEGIN PGP SIGNATURE');
    const m = await intentFor('p2t-dn1', 'p2t-deleg-rc');
    expect(m.clearsigned).toBeDefined();
    expect(m.sha()).toBe(signed.manifest.sha());
    const ok = await policy('p2t-dn1').authorize(m);
    expect(ok.delegation?.record).toEqual({ kind: 'replication_controllers', id: signed.id });

    // An RC nobody signed: the farm still writes signed intent, the host refuses it.
    await rcs.create({
      manifest: parseManifest(manifestText('p2t-deleg-unsigned', 1)),
      nodeSelector: 'role=web',
      replicasDesired: 1,
    });
    const u = await intentFor('p2t-dn1', 'p2t-deleg-unsigned').catch(() =>
      intentFor('p2t-dn2', 'p2t-deleg-unsigned'),
    );
    await expect(policy('p2t-dn1').authorize(u)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_RECORD_UNSIGNED,
    });

    // A new manifest without a signature drops the old one; with --sign-key it is signed again.
    await rcs.updateManifest(signed.id, parseManifest(manifestText('p2t-deleg-rc', 2)));
    const v2 = parseManifest(manifestText('p2t-deleg-rc', 2));
    expect((await rcs.get(signed.id)).rc.deployerSignature).toBeUndefined();
    const m2 = await intentFor('p2t-dn1', 'p2t-deleg-rc', v2.sha());
    await expect(policy('p2t-dn1').authorize(m2)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_RECORD_UNSIGNED,
    });
    await rcs.sign(signed.id, sign);
    await expect(policy('p2t-dn1').authorize(m2)).resolves.toMatchObject({ policy: 'keyring' });
    // The old version the controllers signed is no longer what the record asks for.
    await expect(policy('p2t-dn1').authorize(m)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_MISMATCH,
    });
  });

  it('a daemon set keeps its signature across a signed update and refuses a node it does not select', async () => {
    const dss = new DsStore(store);
    const ds = await dss.create({
      manifest: parseManifest(manifestText('p2t-deleg-ds', 1)),
      nodeSelector: 'role=web',
      minHealth: 0,
      clusterName: 'c',
      timeoutMs: 60_000,
      sign,
    });
    const m = await intentFor('p2t-dn2', 'p2t-deleg-ds');
    await expect(policy('p2t-dn2').authorize(m)).resolves.toMatchObject({
      delegation: { record: { kind: 'daemon_sets', id: ds.id } },
    });
    // The same manifest written on a node whose labels the signed selector does not match.
    await new LabelStore(store).setLabels('node', 'p2t-dn3', { role: 'db' });
    await expect(policy('p2t-dn3').authorize(m)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_NODE_NOT_SELECTED,
    });
    const v2 = parseManifest(manifestText('p2t-deleg-ds', 2));
    const update = await updateDaemonSet(dss, ds.id, { manifest: v2, sign });
    expect(update.after.deployerSignature).toBeDefined();
    const m2 = await intentFor('p2t-dn2', 'p2t-deleg-ds', v2.sha());
    await expect(policy('p2t-dn2').authorize(m2)).resolves.toMatchObject({ policy: 'keyring' });
  });
});
