import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { delegationStatementText, Keyring, readDeployMetadata, verifySignature } from '@p2/auth';
import { ExitCode } from '@p2/cli-kit';
import { decodeDs, decodeRc, delegationStatement } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../../../../vitest.shared.js';
import { type Harness, startHarness } from '../../test-support.js';

const KEYS = join(fixturesDir, 'keys');
const P2UNIVERSE = '6BB5F1D619EA715E36368B23B3A3F402DE19D5FA';
let h: Harness;
const MANIFEST = 'id: p2t-signed\nconfig:\n  greeting: hi\n';

beforeAll(async () => {
  h = await startHarness('sign');
  await writeFile(join(h.dir, 'm.yaml'), MANIFEST);
  await copyFile(join(KEYS, 'p2universe-secring.gpg'), join(h.dir, 'secring.gpg'));
  await copyFile(join(KEYS, 'p2universe-pubring.gpg'), join(h.dir, 'pubring.gpg'));
});
afterAll(async () => {
  await h?.close();
});

describe('p2 sign / verify', () => {
  it('clearsigns to stdout, and the result verifies against the keyring', async () => {
    const signed = await h.p2(['sign', 'm.yaml', '--key', 'secring.gpg']);
    expect(signed.code).toBe(ExitCode.OK);
    expect(signed.out).toMatch(
      /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA\d+\n\nid: p2t-signed\n/,
    );
    await writeFile(join(h.dir, 's.yaml'), signed.out);
    const v = await h.p2(['verify', 's.yaml', '--keyring', 'pubring.gpg', '--json']);
    expect(v.code).toBe(ExitCode.OK);
    const out = JSON.parse(v.out);
    expect(out).toMatchObject({
      pod: 'p2t-signed',
      signer: { fingerprint: P2UNIVERSE, emails: ['deploy-dev@squareup.com'] },
    });
    expect((await h.p2(['verify', 's.yaml', '--keyring', 'pubring.gpg'])).out).toContain(
      `good signature on p2t-signed`,
    );
  });

  it('writes to a file with -o and keeps the pod SHA', async () => {
    const r = await h.p2(['sign', 'm.yaml', '--key', 'secring.gpg', '--out', 'out.yaml', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    const res = JSON.parse(r.out);
    expect(res).toMatchObject({
      pod: 'p2t-signed',
      signers: [P2UNIVERSE],
      output: join(h.dir, 'out.yaml'),
    });
    const digest = JSON.parse((await h.p2(['manifest', 'digest', 'out.yaml', '--json'])).out);
    expect(digest.sha).toBe(res.sha);
  });

  it('refuses to sign a signed manifest unless --cosign', async () => {
    const r = await h.p2(['sign', 'out.yaml', '--key', 'secring.gpg']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('already signed');
  });

  it('detects a tampered manifest, an unsigned one, and an unknown signer', async () => {
    const text = await readFile(join(h.dir, 'out.yaml'), 'utf8');
    await writeFile(join(h.dir, 'tampered.yaml'), text.replace('greeting: hi', 'greeting: ho'));
    const t = await h.p2(['verify', 'tampered.yaml', '--keyring', 'pubring.gpg', '--json']);
    expect(t.code).toBe(ExitCode.INVALID_INPUT);
    expect(JSON.parse(t.out).error.code).toBe('P2_AUTH_SIGNATURE_MISMATCH');
    const u = await h.p2(['verify', 'm.yaml', '--keyring', 'pubring.gpg']);
    expect(u.code).toBe(ExitCode.INVALID_INPUT);
    expect(u.err).toContain('is not signed');
    await writeFile(
      join(h.dir, 'other.asc'),
      await readFile(join(KEYS, 'artifact-builder-public.key')),
    );
    const k = await h.p2(['verify', 'out.yaml', '--keyring', 'other.asc']);
    expect(k.code).toBe(ExitCode.INVALID_INPUT);
    expect(k.err).toContain('P2_AUTH_UNKNOWN_SIGNER');
  });

  it('stamps deploy_serial and deploy_expires into the signed text (--serial, --expires)', async () => {
    const before = Date.now();
    const r = await h.p2([
      'sign',
      'm.yaml',
      '--key',
      'secring.gpg',
      '--serial',
      '3',
      '--expires',
      '72h',
      '--out',
      'stamped.yaml',
      '--json',
    ]);
    expect(r.code).toBe(ExitCode.OK);
    const res = JSON.parse(r.out);
    expect(res).toMatchObject({ pod: 'p2t-signed', serial: 3 });
    const expires = Date.parse(res.expires);
    expect(expires - before).toBeGreaterThanOrEqual(72 * 3_600_000 - 1000);
    expect(expires - before).toBeLessThan(72 * 3_600_000 + 60_000);
    const manifest = parseManifest(await readFile(join(h.dir, 'stamped.yaml')));
    expect(readDeployMetadata(manifest)).toEqual({ serial: 3, expires: new Date(res.expires) });
    expect(new TextDecoder().decode(manifest.clearsigned?.signedBytes)).toMatch(
      /\ndeploy_serial: 3\r?\n/,
    );
    const digest = JSON.parse((await h.p2(['manifest', 'digest', 'm.yaml', '--json'])).out);
    expect(res.sha).toBe(digest.sha); // the metadata is not part of the pod's SHA
    expect((await h.p2(['verify', 'stamped.yaml', '--keyring', 'pubring.gpg'])).code).toBe(
      ExitCode.OK,
    );
    const at = await h.p2([
      'sign',
      'm.yaml',
      '--key',
      'secring.gpg',
      '--expires',
      '2999-01-01T00:00:00Z',
    ]);
    expect(at.code).toBe(ExitCode.OK);
    expect(at.out).toContain('deploy_expires: "2999-01-01T00:00:00Z"');
  });

  it('refuses a bad --serial or --expires, and stamping an already signed manifest', async () => {
    for (const args of [
      ['--serial', '-1'],
      ['--serial', '1.5'],
      ['--expires', 'tomorrow'],
      ['--expires', '2001-01-01T00:00:00Z'],
    ]) {
      const r = await h.p2(['sign', 'm.yaml', '--key', 'secring.gpg', ...args]);
      expect(r.code, args.join(' ')).toBe(ExitCode.USAGE);
      expect(r.err, args.join(' ')).toMatch(/--(serial|expires)/);
    }
    const c = await h.p2(['sign', 'out.yaml', '--key', 'secring.gpg', '--cosign', '--serial', '4']);
    expect(c.code).toBe(ExitCode.INVALID_INPUT);
    expect(c.err).toContain('would change the signed text');
  });

  it('refuses an invalid manifest and a missing key file', async () => {
    await writeFile(join(h.dir, 'bad.yaml'), 'id: 0f4e6a2c-9b1d-4c8e-a1f2-3b4c5d6e7f80\n');
    expect((await h.p2(['sign', 'bad.yaml', '--key', 'secring.gpg'])).code).toBe(
      ExitCode.INVALID_INPUT,
    );
    expect((await h.p2(['sign', 'm.yaml', '--key', 'nokey.gpg'])).code).toBe(ExitCode.NOT_FOUND);
    expect((await h.p2(['sign', 'm.yaml'])).code).toBe(ExitCode.USAGE);
  });

  it('p2 rc sign and p2 ds sign store a deployer signature over the record statement', async () => {
    const keyring = await Keyring.fromBytes(await readFile(join(h.dir, 'pubring.gpg')));
    const rc = JSON.parse(
      (await h.p2(['rc', 'create', '-m', 'm.yaml', '-n', 'role=web', '--json'])).out,
    );
    expect(rc.deployerSigned).toBe(false);
    const signedRc = await h.p2(['rc', 'sign', rc.id, '--key', 'secring.gpg', '--json']);
    expect(signedRc.code, signedRc.err).toBe(ExitCode.OK);
    expect(JSON.parse(signedRc.out)).toMatchObject({ id: rc.id, kind: 'replication_controllers' });
    const ds = JSON.parse(
      (
        await h.p2([
          'ds',
          'create',
          '-m',
          'm.yaml',
          '-n',
          'role=db',
          '--cluster-name',
          'c',
          '--sign-key',
          'secring.gpg',
          '--json',
        ])
      ).out,
    );
    expect(ds.deployerSigned).toBe(true);
    expect((await h.p2(['ds', 'sign', ds.id, '--key', 'secring.gpg'])).code).toBe(ExitCode.OK);
    for (const [kind, key, decode] of [
      ['replication_controllers', `replication_controllers/${rc.id}`, decodeRc],
      ['daemon_sets', `daemon_sets/${ds.id}`, decodeDs],
    ] as const) {
      const record = decode((await h.store.get(key)).value!.value);
      const text = delegationStatementText(delegationStatement(kind, record));
      const { signer } = await verifySignature(
        new TextEncoder().encode(text),
        record.deployerSignature!,
        keyring,
        { minRSABits: 1024, allowSha1: true },
      );
      expect(signer.fingerprint).toBe(P2UNIVERSE);
    }
    const bad = await h.p2(['rc', 'sign', rc.id, '--key', 'm.yaml']);
    expect(bad.code).not.toBe(ExitCode.OK);
    expect(bad.err).toMatch(/no secret key could be read from m.yaml/);
  });
});
