import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../../../../vitest.shared.js';
import { type Harness, startHarness } from '../../test-support.js';

const KEYS = join(fixturesDir, 'keys');
const P2UNIVERSE = '6BB5F1D619EA715E36368B23B3A3F402DE19D5FA';
let h: Harness;
const MANIFEST = 'id: p2t-signed\nconfig:\n  greeting: hi\n';

beforeAll(async () => {
  h = await startHarness('keyring');
  await writeFile(join(h.dir, 'm.yaml'), MANIFEST);
  await copyFile(join(KEYS, 'p2universe-secring.gpg'), join(h.dir, 'secring.gpg'));
  await copyFile(join(KEYS, 'p2universe-pubring.gpg'), join(h.dir, 'pubring.gpg'));
  await writeFile(
    join(h.dir, 'other.asc'),
    await readFile(join(KEYS, 'artifact-builder-public.key')),
  );
  // A manifest the fixture key signed, for the keyrings built below to verify.
  await h.p2(['sign', 'm.yaml', '--key', 'secring.gpg', '--out', 'out.yaml']);
});
afterAll(async () => {
  await h?.close();
});

describe('p2 keyring', () => {
  it('lists the keys of a binary keyring', async () => {
    const r = await h.p2(['keyring', 'list', 'pubring.gpg', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.out).map((k: { fingerprint: string }) => k.fingerprint)).toEqual([
      P2UNIVERSE,
    ]);
    expect((await h.p2(['keyring', 'list', 'nothing.gpg'])).code).toBe(ExitCode.NOT_FOUND);
  });

  it('adds keys to a new armored keyring, skipping keys already present', async () => {
    const others = JSON.parse((await h.p2(['keyring', 'list', 'other.asc', '--json'])).out).length;
    expect(others).toBeGreaterThan(0);
    const first = await h.p2(['keyring', 'add', 'ring.asc', 'pubring.gpg', 'other.asc', '--json']);
    expect(first.code).toBe(ExitCode.OK);
    const res = JSON.parse(first.out);
    expect(res.added.map((k: { fingerprint: string }) => k.fingerprint)).toContain(P2UNIVERSE);
    expect(res.total).toBe(1 + others);
    expect(await readFile(join(h.dir, 'ring.asc'), 'utf8')).toMatch(
      /^-----BEGIN PGP PUBLIC KEY BLOCK-----/,
    );
    const again = JSON.parse(
      (await h.p2(['keyring', 'add', 'ring.asc', 'secring.gpg', '--json'])).out,
    );
    expect(again).toMatchObject({ added: [], skipped: [P2UNIVERSE], total: 1 + others });
    // The new keyring verifies what the fixture key signed.
    expect((await h.p2(['verify', 'out.yaml', '--keyring', 'ring.asc'])).code).toBe(ExitCode.OK);
  });

  it('appends packets to a binary keyring', async () => {
    await copyFile(join(KEYS, 'p2universe-pubring.gpg'), join(h.dir, 'bin.gpg'));
    const others = JSON.parse((await h.p2(['keyring', 'list', 'other.asc', '--json'])).out).length;
    const r = await h.p2(['keyring', 'add', 'bin.gpg', 'other.asc', '--json']);
    expect(JSON.parse(r.out).total).toBe(1 + others);
    expect((await readFile(join(h.dir, 'bin.gpg'))).includes('-----BEGIN')).toBe(false);
  });
});
