/** Interop with real GnuPG: what `gpg --clearsign` writes verifies with `p2 verify`, and the reverse. */

import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../../../../vitest.shared.js';
import { type Harness, startHarness } from '../../test-support.js';

const run = promisify(execFile);
let h: Harness;
let gnupg = '';
const gpg = (...args: string[]) => run('gpg', ['--homedir', gnupg, '--batch', '--yes', ...args]);

beforeAll(async () => {
  h = await startHarness('sign-gpg');
  gnupg = join(h.dir, 'gnupg');
  await mkdir(gnupg, { mode: 0o700 });
  await gpg(
    '--passphrase',
    '',
    '--quick-gen-key',
    'p2t operator <p2t-op@example.com>',
    'ed25519',
    'sign',
    'never',
  );
  await writeFile(join(h.dir, 'op.asc'), (await gpg('--armor', '--export')).stdout);
  await writeFile(join(h.dir, 'm.yaml'), 'id: p2t-gpg\nconfig:\n  a: 1\n');
});
afterAll(async () => {
  // gpg started an agent for this home; end it before the directory goes.
  if (gnupg)
    await run('gpgconf', ['--homedir', gnupg, '--kill', 'gpg-agent']).catch(() => undefined);
  await h?.close();
});

describe('p2 and gpg', () => {
  it('verifies a manifest clearsigned by gpg, with a key added by `p2 keyring add`', async () => {
    await gpg('--clearsign', '--output', join(h.dir, 'gpg-signed.yaml'), join(h.dir, 'm.yaml'));
    expect((await h.p2(['keyring', 'add', 'ring.asc', 'op.asc'])).code).toBe(ExitCode.OK);
    const r = await h.p2(['verify', 'gpg-signed.yaml', '--keyring', 'ring.asc', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.out).signer.emails).toEqual(['p2t-op@example.com']);
  });

  it('writes signatures gpg accepts', async () => {
    await h.p2([
      'sign',
      'm.yaml',
      '--key',
      join(fixturesDir, 'keys', 'p2universe-secring.gpg'),
      '--out',
      'p2-signed.yaml',
    ]);
    await gpg('--import', join(fixturesDir, 'keys', 'p2universe-pubring.gpg'));
    const { stderr } = await gpg('--verify', join(h.dir, 'p2-signed.yaml'));
    expect(stderr).toContain('Good signature');
  });
});
