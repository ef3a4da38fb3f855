/**
 * Test-only helpers (not exported from the package): fixture paths, fresh keys, and the
 * clearsigned splitter of @p2/manifest.
 * @internal
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ClearsignedParts, splitClearsigned } from '@p2/manifest';
import * as openpgp from 'openpgp';

/** P2's data files, `fixtures/p2/` in this repository (origin and license in its README). */
export const fixtures = fileURLToPath(new URL('../../../fixtures/p2/', import.meta.url));

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

/** @p2/manifest's splitter, failing the test when the document is not clearsigned. */
export function split(signed: string): ClearsignedParts {
  const parts = splitClearsigned(signed);
  if (!parts) throw new Error(`not a clearsigned document: ${signed.slice(0, 80)}`);
  return parts;
}
