/**
 * `launchPod`'s refusals happen before anything is supervised or installed. Installing and running
 * for real needs root: `p2 launch`'s host test (apps/client) covers that path end to end.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthError } from '@p2/auth';
import { parseManifest } from '@p2/manifest';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { launchPod } from './launch.js';

const keyring = fileURLToPath(
  new URL('../../../fixtures/p2/keys/p2universe-pubring.gpg', import.meta.url),
);
const manifest = parseManifest(
  'id: p2t-launch\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.invalid/app_0123456789abcdef0123456789abcdef01234567.tar.gz\n',
);
let work = '';

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-launch-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const options = () => ({
  nodeName: 'h1',
  podRoot: join(work, 'pods'),
  serviceRoot: join(work, 'service'),
  auth: { type: 'keyring' as const, keyring },
});

it('refuses an unsigned manifest under a keyring before starting supervision or installing', async () => {
  const refused = await launchPod(manifest, options()).catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(AuthError);
  expect(existsSync(join(work, 'service'))).toBe(false);
  expect(existsSync(join(work, 'pods'))).toBe(false);
});

it('refuses an unreadable keyring the same way', async () => {
  const refused = await launchPod(manifest, {
    ...options(),
    auth: { type: 'keyring', keyring: join(work, 'missing.gpg') },
  }).catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(AuthError);
  expect((refused as AuthError).code).toBe('P2_AUTH_KEYRING_INVALID');
  expect(existsSync(join(work, 'service'))).toBe(false);
});
