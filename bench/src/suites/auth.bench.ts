/**
 * Verifying a clearsigned pod manifest: @p2/auth in process vs `gpg --verify` of the same file
 * (a whole gpg process per verification, which is what a shell-script deployer would pay).
 * Both use P2's RSA-2048 `p2universe` fixture key.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  Keyring,
  KeyringDeployerPolicy,
  loadSecretKeys,
  signManifest,
  verifyClearsigned,
} from '@p2/auth';
import { parseManifest, splitClearsigned } from '@p2/manifest';
import { measure, report } from '../harness.js';

const exec = promisify(execFile);
const fixtures = fileURLToPath(new URL('../../../fixtures/p2/', import.meta.url));

export async function run(): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'p2t-bench-gnupg-'));
  const gpg = (...args: string[]) =>
    exec('gpg', ['--batch', '--no-tty', '--homedir', home, ...args], {
      env: { ...process.env, GNUPGHOME: home },
    });
  try {
    const [key] = await loadSecretKeys(await readFile(`${fixtures}keys/p2universe-secring.gpg`));
    const text = await readFile(`${fixtures}manifests/manifest-test.yaml`, 'utf8');
    const signed = await signManifest(text, key!);
    const file = join(home, 'manifest.yaml.asc');
    await writeFile(file, signed);
    await gpg('--import', `${fixtures}keys/p2universe-pubring.gpg`);
    await gpg('--verify', file); // fails loudly if gpg disagrees

    const keyring = await Keyring.fromFile(`${fixtures}keys/p2universe-pubring.gpg`);
    const parts = splitClearsigned(signed)!;
    const policy = new KeyringDeployerPolicy({ keyring });

    const baseline = await measure('gpg --verify (whole process)', () => gpg('--verify', file), {
      runs: 40,
      warmup: 3,
    });
    const verifyOnly = await measure('@p2/auth verifyClearsigned (split once)', () =>
      verifyClearsigned(parts, keyring),
    );
    const splitAndVerify = await measure('splitClearsigned + verifyClearsigned', () =>
      verifyClearsigned(splitClearsigned(signed)!, keyring),
    );
    const fullPath = await measure('parseManifest + keyring policy authorize', () =>
      policy.authorize(parseManifest(signed)),
    );
    report('clearsigned manifest verification (RSA-2048, P2 fixture key)', baseline, [
      verifyOnly,
      splitAndVerify,
      fullPath,
    ]);
    for (const sample of [verifyOnly, splitAndVerify, fullPath]) {
      console.log(
        `${sample.name}: ${Math.round(sample.opsPerSecond)} verifications/s, ` +
          `${(baseline.medianMs / sample.medianMs).toFixed(1)}x the rate of gpg --verify`,
      );
    }
  } finally {
    await exec('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  }
}
