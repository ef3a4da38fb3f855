import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthErrorCodes } from './errors.js';
import { Keyring } from './keyring.js';
import { KeyringDeployerPolicy } from './policy.js';
import {
  ReplayGuard,
  type ReplayGuardInput,
  readDeployMetadata,
  stampDeployMetadata,
} from './replay.js';
import { signManifest } from './sign.js';
import { newKey, split } from './test-support.js';

const raw = (text: string): ReplayGuardInput => ({
  id: 'p2t-app',
  raw: new TextEncoder().encode(text),
});

describe('deploy metadata', () => {
  it('reads deploy_serial and deploy_expires from the top level', () => {
    expect(
      readDeployMetadata(
        raw('id: p2t-app\ndeploy_serial: 12\ndeploy_expires: 2030-01-02T03:04:05Z\n'),
      ),
    ).toEqual({ serial: 12, expires: new Date('2030-01-02T03:04:05Z') });
    expect(readDeployMetadata(raw('id: p2t-app\n'))).toEqual({});
  });

  it('refuses malformed values with P2_AUTH_DEPLOY_METADATA_INVALID', () => {
    for (const bad of [
      'deploy_serial: -1',
      'deploy_serial: "7"',
      'deploy_serial: 1.5',
      'deploy_expires: tomorrow',
      'deploy_expires: 2030-01-02',
    ]) {
      expect(() => readDeployMetadata(raw(`id: p2t-app\n${bad}\n`)), bad).toThrow(
        expect.objectContaining({ code: AuthErrorCodes.DEPLOY_METADATA_INVALID }),
      );
    }
  });
});

describe('ReplayGuard', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2t-auth-replay-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses an older serial than the last one run, across restarts (state file)', async () => {
    const statePath = join(dir, 'a', 'replay.json');
    const guard = await ReplayGuard.open(statePath);
    const v5 = raw('id: p2t-app\ndeploy_serial: 5\n');
    await guard.check(v5);
    await guard.record(v5);
    expect(JSON.parse(await readFile(statePath, 'utf8')).pods['p2t-app'].serial).toBe(5);

    const restarted = await ReplayGuard.open(statePath);
    expect(restarted.lastSerial('p2t-app')).toBe(5);
    await expect(restarted.check(v5)).resolves.toEqual({ serial: 5 }); // same manifest again: fine
    await expect(restarted.check(raw('id: p2t-app\ndeploy_serial: 4\n'))).rejects.toMatchObject({
      code: AuthErrorCodes.REPLAYED_SERIAL,
      details: { lastSerial: 5, serial: 4 },
    });
    await expect(restarted.check(raw('id: p2t-app\ndeploy_serial: 6\n'))).resolves.toEqual({
      serial: 6,
    });
    // other pods are independent
    await expect(
      restarted.check({ id: 'p2t-other', raw: new TextEncoder().encode('deploy_serial: 1\n') }),
    ).resolves.toEqual({ serial: 1 });
  });

  it('refuses the same serial with different content, and a missing serial once serials were used', async () => {
    const guard = await ReplayGuard.open(join(dir, 'b.json'));
    await guard.record(raw('id: p2t-app\ndeploy_serial: 3\n'));
    await expect(
      guard.check(raw('id: p2t-app\ndeploy_serial: 3\nrun_as: root\n')),
    ).rejects.toMatchObject({ code: AuthErrorCodes.REPLAYED_SERIAL });
    await expect(guard.check(raw('id: p2t-app\n'))).rejects.toMatchObject({
      code: AuthErrorCodes.REPLAYED_SERIAL,
      message: expect.stringContaining('no deploy_serial'),
    });
  });

  it('refuses an expired manifest with P2_AUTH_MANIFEST_EXPIRED', async () => {
    const guard = await ReplayGuard.open(join(dir, 'c.json'), {
      now: () => new Date('2030-01-01T00:00:00Z'),
    });
    await expect(
      guard.check(raw('id: p2t-app\ndeploy_expires: 2029-12-31T23:59:59Z\n')),
    ).rejects.toMatchObject({ code: AuthErrorCodes.MANIFEST_EXPIRED });
    await expect(
      guard.check(raw('id: p2t-app\ndeploy_expires: 2030-01-01T00:00:01+00:00\n')),
    ).resolves.toBeDefined();
  });

  it('requireSerial refuses manifests without a serial', async () => {
    const guard = await ReplayGuard.open(join(dir, 'd.json'), { requireSerial: true });
    await expect(guard.check(raw('id: p2t-app\n'))).rejects.toMatchObject({
      code: AuthErrorCodes.DEPLOY_METADATA_INVALID,
    });
  });

  it('never moves backwards when recording', async () => {
    const guard = await ReplayGuard.open(join(dir, 'e.json'));
    await guard.record(raw('id: p2t-app\ndeploy_serial: 9\n'));
    await guard.record(raw('id: p2t-app\ndeploy_serial: 2\n'));
    expect(guard.lastSerial('p2t-app')).toBe(9);
  });

  it('a damaged state file fails closed with P2_AUTH_REPLAY_STATE_INVALID', async () => {
    const statePath = join(dir, 'f.json');
    await writeFile(statePath, '{"version": 1, "pods": ');
    await expect(ReplayGuard.open(statePath)).rejects.toMatchObject({
      code: AuthErrorCodes.REPLAY_STATE_INVALID,
    });
  });

  it('reads the serial from the signed text of a verified manifest', async () => {
    const alice = await newKey('p2t-alice');
    const policy = new KeyringDeployerPolicy({
      keyring: await Keyring.fromBytes(alice.armoredPublic),
    });
    const guard = await ReplayGuard.open(join(dir, 'g.json'));
    const manifest = async (serial: number) => ({
      id: 'p2t-app',
      runAs: 'p2t-app',
      clearsigned: split(
        await signManifest(`id: p2t-app\ndeploy_serial: ${serial}\n`, alice.privateKey),
      ),
    });
    const newer = await manifest(8);
    const older = await manifest(7);
    await policy.authorize(newer);
    await guard.check(newer);
    await guard.record(newer);
    await policy.authorize(older); // validly signed…
    await expect(guard.check(older)).rejects.toMatchObject({
      code: AuthErrorCodes.REPLAYED_SERIAL,
    }); // …but a replay
  });
});

describe('stampDeployMetadata', () => {
  it('adds or replaces the keys at the end and leaves every other byte alone', () => {
    const text = 'id: p2t-app\n# keep me\nlaunchables: {}\n';
    const stamped = stampDeployMetadata(text, {
      serial: 7,
      expires: new Date('2030-01-02T03:04:05Z'),
    });
    expect(stamped).toBe(`${text}deploy_serial: 7\ndeploy_expires: "2030-01-02T03:04:05Z"\n`);
    expect(readDeployMetadata(raw(stamped))).toEqual({
      serial: 7,
      expires: new Date('2030-01-02T03:04:05Z'),
    });
    const again = stampDeployMetadata(stamped, { serial: 8 });
    expect(again).toBe(`${text}deploy_expires: "2030-01-02T03:04:05Z"\ndeploy_serial: 8\n`);
    expect(stampDeployMetadata('id: p2t-app', { serial: 1 })).toBe(
      'id: p2t-app\ndeploy_serial: 1\n',
    );
    expect(stampDeployMetadata(text, {})).toBe(text);
  });

  it('refuses a bad serial and text the keys cannot be appended to', () => {
    expect(() => stampDeployMetadata('id: x\n', { serial: -1 })).toThrow(
      expect.objectContaining({ code: AuthErrorCodes.DEPLOY_METADATA_INVALID }),
    );
    expect(() => stampDeployMetadata('{id: x, launchables: {}}\n', { serial: 1 })).toThrow(
      /could not be added as top-level keys/,
    );
  });
});
