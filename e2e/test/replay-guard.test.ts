/**
 * The preparer's replay guard and M-of-N signing, with the built preparer under a keyring policy
 * and manifests clear-signed by the real `gpg` (P2's p2universe fixture key plus a fresh second key,
 * in a GNUPGHOME made for this file and removed afterwards):
 *
 * - signed v1 (serial 1) then v2 (serial 2) deploy; v1's exact signed bytes written back into
 *   intent are refused as P2_AUTH_REPLAYED_SERIAL and v2 keeps serving; a restarted preparer leaves
 *   the running v2 alone;
 * - a manifest past its `deploy_expires` is refused;
 * - a pod configured 2-of-N refuses one signature and deploys two (`gpg --clearsign -u A -u B`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/artifacts.js';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

const run = promisify(execFile);
const keys = join(repoRoot, 'fixtures/p2/keys');
const SECOND = 'p2t-second@p2t.example';

let h: TestHost;
let gnupgHome: string;
let failed = false;

async function gpg(...args: string[]): Promise<string> {
  const { stdout } = await run(
    'gpg',
    ['--batch', '--yes', '--no-tty', '--homedir', gnupgHome, ...args],
    {
      env: { ...process.env, GNUPGHOME: gnupgHome },
      encoding: 'utf8',
    },
  );
  return stdout;
}

/** Clear-signs `text` with gpg, one signature packet per signer. */
async function clearsign(text: string, signers: string[]): Promise<string> {
  const input = join(gnupgHome, `m-${Math.random().toString(16).slice(2)}.yaml`);
  await writeFile(input, text);
  await gpg(...signers.flatMap((s) => ['-u', s]), '--clearsign', '--output', `${input}.asc`, input);
  return readFile(`${input}.asc`, 'utf8');
}

/** The test host's manifest for `pod`, with replay metadata added to the text that gets signed. */
function manifestText(
  pod: string,
  version: 'v1' | 'v2',
  port: number,
  greeting: string,
  meta: { serial?: number; expires?: string },
): string {
  const base = new TextDecoder().decode(h.manifest(pod, h[version], port, greeting).raw);
  return [
    base.endsWith('\n') ? base : `${base}\n`,
    meta.serial === undefined ? '' : `deploy_serial: ${meta.serial}\n`,
    meta.expires ? `deploy_expires: ${meta.expires}\n` : '',
  ].join('');
}

beforeAll(async () => {
  gnupgHome = await mkdtemp(join(tmpdir(), 'p2t-gnupg-'));
  await gpg('--import', join(keys, 'p2universe-secring.gpg'));
  await gpg(
    '--passphrase',
    '',
    '--quick-gen-key',
    `p2t second <${SECOND}>`,
    'ed25519',
    'sign',
    'never',
  );
  const keyring = join(gnupgHome, 'pubring.asc');
  await writeFile(keyring, await gpg('--armor', '--export'));
  h = await startTestHost({
    auth: ['  auth:', '    type: keyring', `    keyring: ${keyring}`, '    multi_signature: {}'],
  });
}, 120_000);
afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});
afterAll(async () => {
  await h?.close(failed);
  if (gnupgHome) {
    await run('gpgconf', ['--homedir', gnupgHome, '--kill', 'all']).catch(() => undefined);
    await rm(gnupgHome, { recursive: true, force: true });
  }
});

describe('replay guard and M-of-N signing in the preparer', () => {
  it('refuses a replayed older serial, keeps v2 serving, and a restarted preparer leaves v2 alone', async () => {
    const pod = h.podId('r');
    const port = await freePort();
    const v1 = await clearsign(manifestText(pod, 'v1', port, 'one', { serial: 1 }), ['p2universe']);
    const v2 = await clearsign(manifestText(pod, 'v2', port, 'two', { serial: 2 }), ['p2universe']);
    const intentKey = `intent/${h.node}/${pod}`;

    await h.store.put(intentKey, v1);
    await waitFor('v1 to answer', async () => (await h.answer(port)) === 'one\n', 60_000);
    await h.store.put(intentKey, v2);
    await waitFor('v2 to answer', async () => (await h.answer(port)) === 'two\n', 60_000);
    await waitFor('v2 to be recorded', async () => {
      const state = JSON.parse(await readFile(join(h.work, 'replay', 'state.json'), 'utf8'));
      return state.pods[pod]?.serial === 2;
    });
    const stateFile = await stat(join(h.work, 'replay', 'state.json'));
    expect(stateFile.mode & 0o777).toBe(0o600);
    expect(stateFile.uid).toBe(0);
    expect((await stat(join(h.work, 'replay'))).mode & 0o777).toBe(0o700);

    await h.store.put(intentKey, v1); // v1's exact signed bytes, validly signed
    const refused = await waitFor('the replay to be refused', async () => {
      const state = await h.podState(pod);
      return state?.state === 'unauthorized' ? state : undefined;
    });
    expect(refused.code).toBe('P2_AUTH_REPLAYED_SERIAL');
    expect(refused.error).toMatch(/deploy_serial 1, older than serial 2/);
    expect(await h.answer(port)).toBe('two\n');
    expect(
      Buffer.from((await h.store.get(`reality/${h.node}/${pod}`)).value?.value ?? []).toString(),
    ).toBe(v2);
    // no retry until intent changes: still refused, still v2, a while later
    await sleep(1500);
    expect((await h.podState(pod))?.state).toBe('unauthorized');
    expect(await h.answer(port)).toBe('two\n');

    // intent back to v2 (what runs), then a preparer restart: same serial + same bytes is fine
    await h.store.put(intentKey, v2);
    await waitFor('v2 running again', async () => (await h.podState(pod))?.state === 'running');
    await h.preparer.stop();
    await h.startPreparer('preparer-restarted');
    await sleep(2000);
    expect(await h.podState(pod)).toMatchObject({ state: 'running' });
    expect(await h.answer(port)).toBe('two\n');
  });

  it('refuses a manifest past its deploy_expires', async () => {
    const pod = h.podId('e');
    const port = await freePort();
    const expired = await clearsign(
      manifestText(pod, 'v1', port, 'late', { serial: 1, expires: '2020-01-01T00:00:00Z' }),
      ['p2universe'],
    );
    await h.store.put(`intent/${h.node}/${pod}`, expired);
    const refused = await waitFor('the expired manifest to be refused', async () => {
      const state = await h.podState(pod);
      return state?.state === 'unauthorized' ? state : undefined;
    });
    expect(refused.code).toBe('P2_AUTH_MANIFEST_EXPIRED');
    expect(await h.answer(port)).toBeUndefined();
    await expect(stat(join(h.work, 'pods', pod, 'current_manifest.yaml'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('a 2-of-N pod refuses one signature and deploys two', async () => {
    const pod = h.podId('m');
    const config = await readFile(h.configPath, 'utf8');
    await writeFile(
      h.configPath,
      config.replace('multi_signature: {}', `multi_signature: {${pod}: {required: 2}}`),
    );
    await h.preparer.stop();
    await h.startPreparer('preparer-m-of-n');
    const port = await freePort();
    const text = manifestText(pod, 'v1', port, 'both', { serial: 1 });

    await h.store.put(`intent/${h.node}/${pod}`, await clearsign(text, ['p2universe']));
    const refused = await waitFor('one signature to be refused', async () => {
      const state = await h.podState(pod);
      return state?.state === 'unauthorized' ? state : undefined;
    });
    expect(refused.code).toBe('P2_AUTH_NOT_ENOUGH_SIGNERS');
    expect(refused.error).toMatch(/needs 2 distinct authorized signers, found 1/);
    expect(await h.answer(port)).toBeUndefined();

    await h.store.put(`intent/${h.node}/${pod}`, await clearsign(text, ['p2universe', SECOND]));
    await waitFor(
      'the co-signed pod to answer',
      async () => (await h.answer(port)) === 'both\n',
      60_000,
    );
    expect(await h.podState(pod)).toMatchObject({ state: 'running' });
  });
});
