/**
 * Deploys under a keyring policy (P2's integration setup): a manifest clear-signed with P2's
 * p2universe key runs; a forged one (text changed after signing) and an unsigned one are refused
 * and the running version stays.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSecretKeyFile, signManifest } from '@p2/auth';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/artifacts.js';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

const keys = join(repoRoot, 'fixtures/p2/keys');
let h: TestHost;
let failed = false;

beforeAll(async () => {
  h = await startTestHost({
    auth: ['  auth:', '    type: keyring', `    keyring: ${join(keys, 'p2universe-pubring.gpg')}`],
  });
});
afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});
afterAll(async () => {
  await h?.close(failed);
});

describe('deploys under a keyring policy', () => {
  it('runs a signed manifest and refuses a forged or unsigned one, keeping v1 running', async () => {
    const pod = h.podId('s');
    const port = await freePort();
    const [key] = await loadSecretKeyFile(join(keys, 'p2universe-secring.gpg'));
    if (!key) throw new Error('no secret key in the fixture keyring');
    const signed = await signManifest(
      new TextDecoder().decode(h.manifest(pod, h.v1, port, 'signed one').raw),
      key,
    );
    await h.store.put(`intent/${h.node}/${pod}`, signed);
    await waitFor(
      'the signed pod to answer',
      async () => (await h.answer(port)) === 'signed one\n',
      60_000,
    );
    expect(await readFile(join(h.work, 'pods', pod, 'current_manifest.yaml'), 'utf8')).toBe(signed);

    const forged = signed.replace('greeting: signed one', 'greeting: forged!!!');
    expect(forged).not.toBe(signed);
    await h.store.put(`intent/${h.node}/${pod}`, forged);
    await waitFor(
      'the forged manifest to be refused',
      async () => (await h.podState(pod))?.state === 'unauthorized',
    );
    expect((await h.podState(pod))?.code).toMatch(/^P2_AUTH_/);
    expect(await h.answer(port)).toBe('signed one\n');

    await h.store.put(`intent/${h.node}/${pod}`, h.manifest(pod, h.v2, port, 'unsigned').raw);
    await waitFor('the unsigned manifest to be refused', async () => {
      const state = await h.podState(pod);
      return state?.state === 'unauthorized' && state.error?.match(/unsigned|signature/i) !== null;
    });
    expect(await h.answer(port)).toBe('signed one\n');
    expect(
      Buffer.from((await h.store.get(`reality/${h.node}/${pod}`)).value?.value ?? []).toString(),
    ).toBe(signed);
  });
});
