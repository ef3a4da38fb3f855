/**
 * Test-only helpers (not exported from the package): fixture paths, fresh keys, and a clearsigned
 * splitter equivalent to @p2/manifest's `splitClearsigned` for tests that need signed bytes.
 * @internal
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as openpgp from 'openpgp';
import type { ClearsignedInput } from './verify.js';

/** `shared/fixtures/p2/` beside the repository. */
export const fixtures = fileURLToPath(new URL('../../../../shared/fixtures/p2/', import.meta.url));

export function fixture(path: string): Buffer {
  return readFileSync(`${fixtures}${path}`);
}

/** A fresh, unprotected ECC key (fast to generate). */
export async function newKey(
  name: string,
  email = `${name}@p2t.example`,
): Promise<{
  privateKey: openpgp.PrivateKey;
  publicKey: openpgp.PublicKey;
  armoredPublic: string;
}> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name, email }],
    format: 'object',
  });
  return { privateKey, publicKey, armoredPublic: publicKey.armor() };
}

/** Splits a clearsigned document the way P2 (and @p2/manifest) does. */
export async function splitForTest(
  signed: string,
): Promise<ClearsignedInput & { yamlText: string }> {
  const lines = signed.split('\n');
  const begin = lines.indexOf('-----BEGIN PGP SIGNED MESSAGE-----');
  let i = begin + 1;
  while (lines[i] !== '') i++;
  i++;
  const body: string[] = [];
  while (!lines[i]!.startsWith('-----BEGIN PGP SIGNATURE-----')) {
    const line = lines[i]!.replace(/\r$/, '');
    body.push((line.startsWith('- ') ? line.slice(2) : line).replace(/[ \t]+$/, ''));
    i++;
  }
  const armored = lines.slice(i).join('\n');
  const { data } = await openpgp.unarmor(armored);
  return {
    yamlText: body.map((l) => `${l}\n`).join(''),
    signedBytes: new TextEncoder().encode(body.join('\r\n')),
    signature: data as Uint8Array,
  };
}
