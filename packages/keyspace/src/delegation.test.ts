import { Selector } from '@p2/labels';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  delegationStatement,
  StoreDelegationRecords,
  sameStatement,
  signForWrite,
} from './delegation.js';
import { dsKey, rcKey } from './keys.js';
import { LabelStore } from './label-store.js';
import { type DsRecord, decodeRc, encodeDs, encodeRc, type RcRecord } from './records.js';
import { startTestStore, type TestStore } from './test-support.js';

const RC_ID = '5f0e8a8c-7d6b-4c1e-9a55-0c1d2e3f4a5b';
const DS_ID = '6a1f9b9d-8e7c-4d2f-8b66-1d2e3f4a5b6c';
const manifest = parseManifest('id: p2t-web\nlaunchables: {}\n');
const rc: RcRecord = {
  id: RC_ID,
  manifest,
  nodeSelector: Selector.parse('role=web'),
  podLabels: {},
  replicasDesired: 2,
  disabled: false,
  allocationStrategy: 'static_strategy',
  deployerSignature: '-----BEGIN PGP SIGNATURE-----\n…\n-----END PGP SIGNATURE-----\n',
};
const ds: DsRecord = {
  id: DS_ID,
  disabled: false,
  manifest,
  minHealth: 0,
  clusterName: '',
  nodeSelector: Selector.parse('role=db'),
  podId: 'p2t-web',
  timeoutMs: 1000,
};

let t: TestStore;
beforeAll(async () => {
  t = await startTestStore();
});
afterAll(() => t?.cleanup());

describe('delegation records', () => {
  it('keeps deployer_signature through the RC codec and omits it when unset', () => {
    expect(decodeRc(encodeRc(rc)).deployerSignature).toBe(rc.deployerSignature);
    expect(encodeRc({ ...rc, deployerSignature: undefined })).not.toContain('deployer_signature');
  });

  it('builds the statement from the stored fields; a new selector or manifest changes it', () => {
    const s = delegationStatement('replication_controllers', rc);
    expect(s).toEqual({
      kind: 'replication_controllers',
      id: RC_ID,
      podId: 'p2t-web',
      manifestSha: manifest.sha(),
      nodeSelector: 'role=web',
    });
    expect(
      sameStatement(
        s,
        delegationStatement('replication_controllers', { ...rc, replicasDesired: 9 }),
      ),
    ).toBe(true);
    const moved = { ...rc, nodeSelector: Selector.parse('role=db') };
    expect(sameStatement(s, delegationStatement('replication_controllers', moved))).toBe(false);
  });

  it('reads records from the store with whether they select this node', async () => {
    await t.store.put(rcKey(RC_ID), encodeRc(rc));
    await t.store.put(dsKey(DS_ID), encodeDs(ds));
    await new LabelStore(t.store).setLabels('node', 'p2t-node1', { role: 'web' });
    const records = new StoreDelegationRecords(t.store, 'p2t-node1');
    const got = await records.get({ kind: 'replication_controllers', id: RC_ID });
    expect(got).toMatchObject({ signature: rc.deployerSignature, nodeSelected: true });
    expect(got?.statement.nodeSelector).toBe('role=web');
    const d = await records.get({ kind: 'daemon_sets', id: DS_ID });
    expect(d).toMatchObject({ signature: undefined, nodeSelected: false });
    expect(await records.get({ kind: 'daemon_sets', id: RC_ID })).toBeUndefined();
    await t.store.put(rcKey(RC_ID), '{"id":"x"}');
    await expect(records.get({ kind: 'replication_controllers', id: RC_ID })).rejects.toMatchObject(
      {
        code: 'P2_KV_BAD_RECORD',
      },
    );
  });
});

describe('signForWrite', () => {
  const conflict = () => new Error('changed while being signed');

  it('signs the planned record and seals the same statement; refuses one that changed meanwhile', async () => {
    const signed: string[] = [];
    const seal = await signForWrite(
      'replication_controllers',
      async (statement) => {
        signed.push(statement.nodeSelector);
        return 'sig';
      },
      () => ({ ...rc, replicasDesired: 5 }),
      conflict,
    );
    expect(signed).toEqual(['role=web']);
    // Replicas are not in the statement: the signature still covers the record.
    expect(seal({ ...rc, replicasDesired: 7 })).toMatchObject({
      replicasDesired: 7,
      deployerSignature: 'sig',
    });
    expect(() => seal({ ...rc, nodeSelector: Selector.parse('role=db') })).toThrow(
      'changed while being signed',
    );
  });

  it('without a signer, neither plans nor changes the record', async () => {
    const seal = await signForWrite<DsRecord>(
      'daemon_sets',
      undefined,
      () => {
        throw new Error('planned');
      },
      conflict,
    );
    expect(seal(ds)).toBe(ds);
  });
});
