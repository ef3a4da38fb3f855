import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Manifest, parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManifestAuthorizer, ManifestAuthorizer } from './authorizer.js';
import { parseAuthConfig } from './config.js';
import { AuthErrorCodes } from './errors.js';
import { Keyring } from './keyring.js';
import { KeyringDeployerPolicy } from './policy.js';
import { ReplayGuard } from './replay.js';
import { signManifest } from './sign.js';
import { newKey } from './test-support.js';

type TestKey = Awaited<ReturnType<typeof newKey>>;

let dir: string;
let alice: TestKey;
let bob: TestKey;
let keyringPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-auth-authorizer-'));
  [alice, bob] = await Promise.all([newKey('p2t-alice'), newKey('p2t-bob')]);
  keyringPath = join(dir, 'keys.asc');
  await writeFile(keyringPath, `${alice.armoredPublic}\n${bob.armoredPublic}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A real @p2/manifest Manifest, clear-signed by `keys`, with optional replay metadata. */
async function signed(
  id: string,
  meta: { serial?: number; expires?: string; greeting?: string } = {},
  keys: TestKey[] = [alice],
): Promise<Manifest> {
  const text = [
    `id: ${id}`,
    ...(meta.serial === undefined ? [] : [`deploy_serial: ${meta.serial}`]),
    ...(meta.expires ? [`deploy_expires: ${meta.expires}`] : []),
    'launchables: {}',
    `config: {greeting: ${meta.greeting ?? 'hi'}}`,
    '',
  ].join('\n');
  return parseManifest(
    await signManifest(
      text,
      keys.map((k) => k.privateKey),
    ),
  );
}

async function authorizer(stateFile: string, requireSerial = false): Promise<ManifestAuthorizer> {
  return createManifestAuthorizer(
    parseAuthConfig({
      type: 'keyring',
      keyring: keyringPath,
      multi_signature: { 'p2t-critical': { required: 2 } },
    }),
    { replayGuard: { stateFile, requireSerial } },
  );
}

const statePods = async (path: string) =>
  JSON.parse(await readFile(path, 'utf8')).pods as Record<string, { serial: number }>;

describe('ManifestAuthorizer', () => {
  it('refuses a replay of an older signed manifest once a newer one launched', async () => {
    const stateFile = join(dir, 'replay-1', 'state.json');
    const auth = await authorizer(stateFile);
    const v1 = await signed('p2t-app', { serial: 1, greeting: 'one' });
    const v2 = await signed('p2t-app', { serial: 2, greeting: 'two' });
    await expect(auth.authorize(v1)).resolves.toMatchObject({
      policy: 'keyring',
      metadata: { serial: 1 },
    });
    await auth.launched(v1);
    await auth.authorize(v2);
    await auth.launched(v2);
    expect((await statePods(stateFile))['p2t-app']?.serial).toBe(2);
    await expect(auth.authorize(parseManifest(v1.raw))).rejects.toMatchObject({
      code: AuthErrorCodes.REPLAYED_SERIAL,
      details: { podId: 'p2t-app', lastSerial: 2, serial: 1 },
    });
    // a restarted host agent re-accepts exactly what runs (same serial, same signed bytes)
    const restarted = await authorizer(stateFile);
    await expect(restarted.authorize(parseManifest(v2.raw))).resolves.toMatchObject({
      metadata: { serial: 2 },
    });
    await expect(restarted.authorize(parseManifest(v1.raw))).rejects.toMatchObject({
      code: AuthErrorCodes.REPLAYED_SERIAL,
    });
  });

  it('checks the signature before the serial: an unsigned manifest with a high serial records nothing', async () => {
    const stateFile = join(dir, 'replay-2', 'state.json');
    const auth = await authorizer(stateFile);
    const forged = parseManifest('id: p2t-app\ndeploy_serial: 99\nlaunchables: {}\n');
    await expect(auth.authorize(forged)).rejects.toMatchObject({
      code: AuthErrorCodes.UNSIGNED,
    });
    await auth.launched(forged); // not authorized: logged, not recorded
    expect(auth.replayGuard?.lastSerial('p2t-app')).toBeUndefined();
  });

  it('does not move the serial for a manifest that was accepted but never launched', async () => {
    const stateFile = join(dir, 'replay-3', 'state.json');
    const auth = await authorizer(stateFile);
    const v1 = await signed('p2t-app', { serial: 1 });
    await auth.authorize(v1);
    await auth.launched(v1);
    const v2 = await signed('p2t-app', { serial: 2, greeting: 'broken' });
    await auth.authorize(v2); // … and then its install fails: launched() is never called
    expect((await statePods(stateFile))['p2t-app']?.serial).toBe(1);
    // v1, still running, stays acceptable (e.g. after the preparer restarts)
    await expect(auth.authorize(parseManifest(v1.raw))).resolves.toBeDefined();
  });

  it('records a running manifest it did not authorize itself only after authorizing it (crash between launch and record)', async () => {
    const stateFile = join(dir, 'replay-4', 'state.json');
    const first = await authorizer(stateFile);
    const v1 = await signed('p2t-app', { serial: 1 });
    await first.authorize(v1);
    await first.launched(v1);
    // v2 launched, but the agent died before recording it; the next agent finds v2 running
    const v2 = await signed('p2t-app', { serial: 2 });
    const next = await authorizer(stateFile);
    await next.launched(parseManifest(v2.raw));
    expect(next.replayGuard?.lastSerial('p2t-app')).toBe(2);
    await expect(next.authorize(parseManifest(v1.raw))).rejects.toMatchObject({
      code: AuthErrorCodes.REPLAYED_SERIAL,
    });
    // already recorded: nothing to verify or write
    await next.launched(parseManifest(v2.raw));
    // an unsigned copy of a manifest claiming a higher serial is never recorded
    await next.launched(parseManifest('id: p2t-app\ndeploy_serial: 50\nlaunchables: {}\n'));
    expect(next.replayGuard?.lastSerial('p2t-app')).toBe(2);
  });

  it('refuses an expired manifest, and one without serial when serials are required', async () => {
    const auth = await authorizer(join(dir, 'replay-5', 'state.json'), true);
    await expect(
      auth.authorize(await signed('p2t-app', { serial: 1, expires: '2001-01-01T00:00:00Z' })),
    ).rejects.toMatchObject({ code: AuthErrorCodes.MANIFEST_EXPIRED });
    await expect(auth.authorize(await signed('p2t-app'))).rejects.toMatchObject({
      code: AuthErrorCodes.DEPLOY_METADATA_INVALID,
    });
    await expect(
      auth.authorize(await signed('p2t-app', { serial: 1, expires: '2999-01-01T00:00:00Z' })),
    ).resolves.toMatchObject({ metadata: { serial: 1 } });
  });

  it('M-of-N from the auth config: one signature refused, two accepted; other pods need one', async () => {
    const auth = await authorizer(join(dir, 'replay-6', 'state.json'));
    await expect(auth.authorize(await signed('p2t-critical', { serial: 1 }))).rejects.toMatchObject(
      { code: AuthErrorCodes.NOT_ENOUGH_SIGNERS, details: { required: 2 } },
    );
    const both = await signed('p2t-critical', { serial: 1 }, [alice, bob]);
    await expect(auth.authorize(both)).resolves.toMatchObject({ signers: [{}, {}] });
    await expect(auth.authorize(await signed('p2t-app'))).resolves.toBeDefined();
  });

  it('`*` in multi_signature applies to every pod without its own rule (own keys only)', async () => {
    const auth = await createManifestAuthorizer(
      parseAuthConfig({
        type: 'keyring',
        keyring: keyringPath,
        multi_signature: { '*': { required: 2 }, 'p2t-solo': { required: 1 } },
      }),
    );
    expect(auth.replayGuard).toBeUndefined();
    await expect(auth.authorize(await signed('p2t-app'))).rejects.toMatchObject({
      code: AuthErrorCodes.NOT_ENOUGH_SIGNERS,
    });
    await expect(auth.authorize(await signed('p2t-solo'))).resolves.toBeDefined();
    await expect(auth.authorize(await signed('p2t-app', {}, [alice, bob]))).resolves.toBeDefined();
    // a pod id that names an Object.prototype property is not a rule
    const plain = new KeyringDeployerPolicy({
      keyring: await Keyring.fromFile(keyringPath),
      multiSignature: { 'p2t-x': { required: 2 } },
    });
    await expect(
      new ManifestAuthorizer({ policy: plain }).authorize(await signed('constructor')),
    ).resolves.toBeDefined();
  });

  it('opens no replay guard under auth type none', async () => {
    const stateFile = join(dir, 'replay-none', 'state.json');
    const auth = await createManifestAuthorizer({ type: 'none' }, { replayGuard: { stateFile } });
    expect(auth.replayGuard).toBeUndefined();
    await expect(stat(join(dir, 'replay-none'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('replay state file trust', () => {
  it('creates the directory 0700 and writes the file 0600', async () => {
    const stateFile = join(dir, 'trust-ok', 'nested', 'state.json');
    const guard = await ReplayGuard.open(stateFile);
    await guard.record({ id: 'p2t-app', raw: new TextEncoder().encode('deploy_serial: 3\n') });
    expect((await stat(join(dir, 'trust-ok', 'nested'))).mode & 0o777).toBe(0o700);
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    expect((await ReplayGuard.open(stateFile)).lastSerial('p2t-app')).toBe(3);
  });

  const refusals: Array<[string, (base: string, file: string) => Promise<void>, RegExp]> = [
    [
      'a symlink',
      async (base, file) => {
        await writeFile(join(base, 'elsewhere.json'), '{"version":1,"pods":{}}', { mode: 0o600 });
        await symlink(join(base, 'elsewhere.json'), file);
      },
      /symbolic link/,
    ],
    ['a directory', async (_base, file) => mkdir(file), /not a regular file/],
    [
      'a file owned by another user',
      async (_base, file) => {
        await writeFile(file, '{"version":1,"pods":{}}', { mode: 0o600 });
        await chown(file, 65534, 65534);
      },
      /owned by uid 65534, not root/,
    ],
    [
      'a group-writable file',
      async (_base, file) => {
        await writeFile(file, '{"version":1,"pods":{}}');
        await chmod(file, 0o660);
      },
      /writable by group or others \(mode 660/,
    ],
    [
      'a directory writable by others',
      async (base) => {
        await chmod(base, 0o777);
      },
      /writable by group or others \(mode 777\)/,
    ],
    [
      'a sticky world-writable state directory',
      async (base) => {
        await chmod(base, 0o1777);
      },
      /writable by group or others \(mode 1777\)/,
    ],
    [
      'a directory owned by another user',
      async (base) => {
        await chown(base, 65534, 65534);
      },
      /owned by uid 65534/,
    ],
  ];
  const root = process.getuid?.() === 0;
  for (const [what, arrange, message] of refusals) {
    // chown to another user needs root
    it.skipIf(!root && what.includes('another user'))(
      `refuses ${what} (P2_AUTH_REPLAY_STATE_INVALID)`,
      async () => {
        const base = await mkdtemp(join(dir, 'trust-'));
        const file = join(base, 'state.json');
        await arrange(base, file);
        await expect(ReplayGuard.open(file)).rejects.toMatchObject({
          code: AuthErrorCodes.REPLAY_STATE_INVALID,
          message: expect.stringMatching(message),
        });
      },
    );
  }

  it('refuses a state directory under a non-sticky directory writable by others', async () => {
    const base = await mkdtemp(join(dir, 'trust-'));
    await chmod(base, 0o777);
    await expect(ReplayGuard.open(join(base, 'p2', 'state.json'))).rejects.toMatchObject({
      code: AuthErrorCodes.REPLAY_STATE_INVALID,
      message: expect.stringContaining(`${base} is writable by group or others`),
    });
  });
});
