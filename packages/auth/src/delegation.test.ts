/**
 * Delegated signing: a deployer signs a record once, the controllers sign manifests with their own
 * key naming that record, and the host policy accepts only the chain. Records come from an
 * in-memory source here (the store-backed one is tested in @p2/keyspace and end to end in e2e).
 */
import { parseManifest } from '@p2/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAuthConfig } from './config.js';
import {
  DELEGATION_NOTATION,
  DelegatedSigner,
  type DelegatingRecord,
  type DelegationStatement,
  delegationStatementText,
  type RecordRef,
  signDelegationStatement,
} from './delegation.js';
import { DeployPolicy } from './deploy-policy.js';
import { AuthErrorCodes } from './errors.js';
import { Keyring } from './keyring.js';
import { KeyringDeployerPolicy, UserDeployerPolicy } from './policy.js';
import { signManifest } from './sign.js';
import { newKey } from './test-support.js';

type TestKey = Awaited<ReturnType<typeof newKey>>;
const RC = '0b7c2a4e-1111-4222-8333-944455556666';
const TEXT = 'id: p2t-web\nlaunchables: {}\nconfig:\n  v: 1\n';

let deployer: TestKey;
let stranger: TestKey;
let controller: TestKey;
let deployers: Keyring;
let controllers: Keyring;
let signer: DelegatedSigner;

function statement(overrides: Partial<DelegationStatement> = {}): DelegationStatement {
  return {
    kind: 'replication_controllers',
    id: RC,
    podId: 'p2t-web',
    manifestSha: parseManifest(TEXT).sha(),
    nodeSelector: 'role=web',
    ...overrides,
  };
}

/** The RC signed by the deployer, as the only record. */
async function signedRecord(): Promise<Record<string, DelegatingRecord>> {
  const s = statement();
  return {
    [`replication_controllers/${RC}`]: {
      statement: s,
      signature: await signDelegationStatement(s, deployer.privateKey),
      nodeSelected: true,
    },
  };
}

function source(records: Record<string, DelegatingRecord>) {
  return { get: async (ref: RecordRef) => records[`${ref.kind}/${ref.id}`] };
}

function policy(records: Record<string, DelegatingRecord>) {
  return new KeyringDeployerPolicy({
    keyring: deployers,
    delegation: { keyring: controllers, records: source(records) },
  });
}

async function delegated(
  text = TEXT,
  ref: RecordRef = { kind: 'replication_controllers', id: RC },
) {
  const m = parseManifest(text);
  return parseManifest(await signer.sign(text, m.sha(), ref));
}

beforeAll(async () => {
  [deployer, stranger, controller] = await Promise.all([
    newKey('deployer'),
    newKey('stranger'),
    newKey('controllers'),
  ]);
  deployers = await Keyring.fromBytes(deployer.armoredPublic);
  controllers = await Keyring.fromBytes(controller.armoredPublic);
  signer = new DelegatedSigner(controller.privateKey);
});

describe('delegated signing', () => {
  it('accepts a controller-signed manifest whose record a deployer signed', async () => {
    const records = await signedRecord();
    const manifest = await delegated();
    expect(manifest.sha()).toBe(parseManifest(TEXT).sha());
    const result = await policy(records).authorize(manifest);
    expect(result.signer?.fingerprint).toBe(deployer.publicKey.getFingerprint().toUpperCase());
    expect(result.delegation?.controller.fingerprint).toBe(signer.fingerprint);
    expect(result.delegation?.controller.notations?.[DELEGATION_NOTATION]).toBe(
      `replication_controllers/${RC}`,
    );
    expect(result.delegation?.record).toEqual({ kind: 'replication_controllers', id: RC });
  });

  it('refuses the chain link by link, each with its own code', async () => {
    const s = statement();
    const good = await signDelegationStatement(s, deployer.privateKey);
    const at = (r: DelegatingRecord) => policy({ [`replication_controllers/${RC}`]: r });
    const manifest = await delegated();
    // the record is gone
    await expect(policy({}).authorize(manifest)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_RECORD_MISSING,
    });
    // never signed
    await expect(
      at({ statement: s, nodeSelected: true }).authorize(manifest),
    ).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_RECORD_UNSIGNED,
    });
    // a forged record: signed by a key the host does not trust
    const forged = await signDelegationStatement(s, stranger.privateKey);
    await expect(
      at({ statement: s, signature: forged, nodeSelected: true }).authorize(manifest),
    ).rejects.toMatchObject({
      code: AuthErrorCodes.UNKNOWN_SIGNER,
      // names the record: a host checks again when the record (not only the intent) changes
      details: { record: `replication_controllers/${RC}` },
    });
    // signed by the controller key itself
    const byController = await signDelegationStatement(s, controller.privateKey);
    const both = await Keyring.fromBytes(`${deployer.armoredPublic}\n${controller.armoredPublic}`);
    await expect(
      new KeyringDeployerPolicy({
        keyring: both,
        delegation: {
          keyring: controllers,
          records: source({
            [`replication_controllers/${RC}`]: {
              statement: s,
              signature: byController,
              nodeSelected: true,
            },
          }),
        },
      }).authorize(manifest),
    ).rejects.toMatchObject({ code: AuthErrorCodes.DELEGATION_RECORD_UNSIGNED });
    // tampered after signing: the stored selector (or manifest) no longer matches the signature
    await expect(
      at({
        statement: { ...s, nodeSelector: 'role in (web,db)' },
        signature: good,
        nodeSelected: true,
      }).authorize(manifest),
    ).rejects.toMatchObject({ code: AuthErrorCodes.SIGNATURE_MISMATCH });
    // the node is not selected
    await expect(
      at({ statement: s, signature: good, nodeSelected: false }).authorize(manifest),
    ).rejects.toMatchObject({ code: AuthErrorCodes.DELEGATION_NODE_NOT_SELECTED });
  });

  it('refuses a manifest the record did not ask for, and a manifest that names no record', async () => {
    const records = await signedRecord();
    // the controller key signs another version of the pod and names the signed record
    const other = await delegated(TEXT.replace('v: 1', 'v: 2'));
    await expect(policy(records).authorize(other)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_MISMATCH,
      message: expect.stringContaining(`replication_controllers/${RC}`),
    });
    // … or another pod
    const otherPod = await delegated(TEXT.replace('p2t-web', 'p2t-evil'));
    await expect(policy(records).authorize(otherPod)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_MISMATCH,
    });
    // … or signs without naming a record
    const bare = parseManifest(await signManifest(TEXT, controller.privateKey));
    await expect(policy(records).authorize(bare)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_INVALID,
    });
    // … or names a reference that is not a record
    const odd = parseManifest(
      await signManifest(TEXT, controller.privateKey, {
        notations: { [DELEGATION_NOTATION]: 'intent/../../etc' },
      }),
    );
    await expect(policy(records).authorize(odd)).rejects.toMatchObject({
      code: AuthErrorCodes.DELEGATION_INVALID,
    });
    // without delegation configured, a controller signature is just an unknown signer
    await expect(
      new KeyringDeployerPolicy({ keyring: deployers }).authorize(await delegated()),
    ).rejects.toMatchObject({ code: AuthErrorCodes.UNKNOWN_SIGNER });
  });

  it('applies the user policy to the record signer', async () => {
    const records = await signedRecord();
    const make = (yaml: string) =>
      new UserDeployerPolicy({
        keyring: deployers,
        deployPolicy: DeployPolicy.parse(yaml),
        delegation: { keyring: controllers, records: source(records) },
      });
    const allowed = make('groups:\n  web: [deployer@p2t.example]\napps:\n  p2t-web: [web]\n');
    await expect(allowed.authorize(await delegated())).resolves.toMatchObject({ policy: 'user' });
    const denied = make('groups:\n  web: [someone@p2t.example]\napps:\n  p2t-web: [web]\n');
    await expect(denied.authorize(await delegated())).rejects.toMatchObject({
      code: AuthErrorCodes.POLICY_DENIED,
    });
  });

  it('a deployer-signed manifest still deploys directly; the statement text is stable', async () => {
    const direct = parseManifest(await signManifest(TEXT, deployer.privateKey));
    await expect(policy({}).authorize(direct)).resolves.toMatchObject({ policy: 'keyring' });
    expect(delegationStatementText(statement())).toBe(
      `p2 delegation v1\nkind: replication_controllers\nid: ${RC}\npod_id: p2t-web\nmanifest_sha: ${parseManifest(TEXT).sha()}\nnode_selector: role=web\n`,
    );
  });

  it('reads delegation.keyring from the auth config and refuses the deployers keyring there', () => {
    expect(
      parseAuthConfig({
        type: 'keyring',
        keyring: '/etc/p2/pubring.gpg',
        delegation: { keyring: '/etc/p2/controllers.gpg' },
      }),
    ).toMatchObject({ delegationKeyring: '/etc/p2/controllers.gpg' });
    expect(() =>
      parseAuthConfig({
        type: 'keyring',
        keyring: '/etc/p2/pubring.gpg',
        delegation: { keyring: '/etc/p2/pubring.gpg' },
      }),
    ).toThrow(/auth.delegation.keyring: must not be the deployers' keyring/);
    expect(() =>
      parseAuthConfig({ type: 'keyring', keyring: '/k', delegation: { keyrng: '/c' } }),
    ).toThrow(/auth.delegation.keyrng: unknown key/);
  });
});
