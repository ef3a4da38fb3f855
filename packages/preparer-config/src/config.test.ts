import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const fixturesDir = new URL('../../../fixtures/p2', import.meta.url).pathname;

import { parseGoDuration } from '@p2/go';
import { parsePreparerConfig, parseSize } from './index.js';

describe('parsePreparerConfig', () => {
  it('loads the P2 fixture config with the values P2 read', () => {
    const text = readFileSync(`${fixturesDir}/config/preparer-config.yaml`, 'utf8');
    const config = parsePreparerConfig(text, 'preparer-config.yaml');
    expect(config.nodeName).toBe('foohost');
    expect(config.store).toBe('consul+https://0.0.0.0');
    expect(config.consulTokenPath).toBe('/etc/consul.token');
    expect(config.hooksDirectory).toBe('/etc/p2/hooks');
    expect(config.auth).toEqual({
      type: 'keyring',
      keyring: '/etc/p2.keyring',
      authorizedDeployers: [],
    });
    expect(config.logExec).toEqual(['log-bridge', 'start']);
    expect(config.requireFile).toBe('/dev/shm/p2-may-run');
    expect(config.hooksRequired).toEqual(['basename__req-hook']);
    expect(config.podRoot).toBe('/data/pods');
    expect(config.maxLaunchableDiskUsage).toBe(10 * 2 ** 30);
    expect(config.hooksManifest).toBeUndefined();
    expect(config.finishExec).toEqual(['touch', '/tmp/process_did_finish']);
    expect(config.extraLogDestinations).toEqual([
      { type: 'socket', path: '/var/log/p2-socket.out' },
    ]);
    // Every key of P2's sample is acted on.
    expect(config.ignoredKeys).toEqual([]);
  });

  it('refuses an extra log destination p2 cannot send to, saying what it wants', () => {
    const base = 'preparer:\n  auth: {type: none}\n  extra_log_destinations:\n';
    for (const [entry, message] of [
      [
        '  - {type: syslog, path: /dev/log}',
        /extra_log_destinations\[0\]\.type: expected socket \(a unix socket/,
      ],
      [
        '  - {type: socket, path: relative.sock}',
        /extra_log_destinations\[0\]\.path: expected the absolute path/,
      ],
      ['  - {type: socket}', /extra_log_destinations\[0\]\.path/],
      [
        '  - {type: socket, path: /x.sock, mode: 1}',
        /extra_log_destinations\[0\]\.mode: expected only type and path/,
      ],
      ['  - /var/log/p2.sock', /extra_log_destinations\[0\]: expected a mapping/],
    ] as const)
      expect(() => parsePreparerConfig(`${base}${entry}\n`)).toThrow(message);
    expect(parsePreparerConfig('preparer:\n  auth: {type: none}\n').extraLogDestinations).toEqual(
      [],
    );
  });

  it('applies P2 defaults and derives the store URL', () => {
    const config = parsePreparerConfig('preparer:\n  auth: {type: none}\n');
    expect(config.store).toBe('consul://127.0.0.1:8500');
    expect(config.hooksDirectory).toBe('/usr/local/p2hooks.d');
    expect(config.statusPort).toBe(0);
    expect(config.healthCheckTimeoutMs).toBe(5000);
    expect(config.cgroupParent).toBe(`p2/${config.nodeName}`);
  });

  it('takes an explicit store URL and p2 additions', () => {
    const config = parsePreparerConfig(
      'preparer:\n  node_name: h1\n  store: etcd://127.0.0.1:2379\n  auth: {type: none}\n  service_root: /tmp/s\n  max_launchable_disk_usage: 1.5G\n  params: {healthcheck_timeout: "2"}\n',
    );
    expect(config.store).toBe('etcd://127.0.0.1:2379');
    expect(config.serviceRoot).toBe('/tmp/s');
    expect(config.maxLaunchableDiskUsage).toBe(1610612736);
    expect(config.healthCheckTimeoutMs).toBe(2000);
  });

  it.each([
    ['not yaml: [', /not valid YAML/],
    ['- a\n- b\n', /expected a mapping/],
    ['other: 1\n', /expected a `preparer:` mapping/],
    ['preparer: {}\n', /preparer.auth is required/],
    [
      'preparer:\n  auth: {type: magic}\n',
      /preparer.auth.type: expected one of none, keyring, user; found "magic"/,
    ],
    [
      'preparer:\n  auth: {type: keyring}\n',
      /preparer.auth.keyring: required for auth type keyring/,
    ],
    [
      'preparer:\n  auth: {type: none}\n  status_port: "80"\n',
      /preparer.status_port: expected a non-negative integer, found "80"/,
    ],
    [
      'preparer:\n  auth: {type: none}\n  hooks_required: hook\n',
      /preparer.hooks_required: expected a list of strings/,
    ],
    [
      'preparer:\n  auth: {type: none}\n  max_launchable_disk_usage: lots\n',
      /max_launchable_disk_usage: expected a size/,
    ],
    ['preparer:\n  auth: {type: none}\n  params: {bogus: 1}\n', /params.bogus: expected one of/],
    [
      'preparer:\n  auth: {type: none}\n  artifact_auth: {type: build}\n',
      /artifact_auth.keyring: expected a keyring path \(required by type build\)/,
    ],
    [
      'preparer:\n  auth: {type: none}\n  cert_file: /c\n',
      /key_file: expected cert_file and key_file to be set together/,
    ],
    ['preparer:\n  auth: {type: none}\n  log_level: loud\n', /log_level: expected one of/],
  ])('rejects %j with a message naming the key', (text, message) => {
    expect(() => parsePreparerConfig(text)).toThrowError(message);
    try {
      parsePreparerConfig(text);
    } catch (error) {
      expect((error as { code: string }).code).toBe('P2_PREPARER_CONFIG_INVALID');
    }
  });

  it('refuses keys it does not know, all at once, with the key each most likely meant', () => {
    // P2 ignored a misspelt key silently; p2 says so before anything starts (issue 16).
    expect(() =>
      parsePreparerConfig(
        'preparer:\n  auth: {type: none}\n  nodename: typo\n  pod_roto: /x\n  zzz: 1\n',
      ),
    ).toThrow(
      'preparer config: unknown keys preparer.nodename (did you mean preparer.node_name?), preparer.pod_roto (did you mean preparer.pod_root?), preparer.zzz',
    );
    try {
      parsePreparerConfig('preparer:\n  nodename: typo\n');
    } catch (error) {
      expect((error as { code: string }).code).toBe('P2_PREPARER_CONFIG_INVALID');
      expect((error as { hint: string }).hint).toMatch(/--check-config/);
    }
  });
});

describe('parseSize and parseGoDuration', () => {
  it.each([
    ['10G', 10 * 2 ** 30],
    ['512M', 512 * 2 ** 20],
    ['1.5gb', 1610612736],
    ['100', 100],
    ['2K', 2048],
    ['x', undefined],
  ])('size %s', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each([
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['0', 0],
    ['10', undefined],
    ['5 s', undefined],
    ['', undefined],
  ])('duration %s', (text, ms) => expect(parseGoDuration(text)).toBe(ms));
});

describe('require_preparer_in_intent', () => {
  it('defaults to P2’s guard and can be turned off', () => {
    expect(parsePreparerConfig('preparer:\n  auth: {type: none}\n').requirePreparerInIntent).toBe(
      true,
    );
    const off = parsePreparerConfig(
      'preparer:\n  auth: {type: none}\n  require_preparer_in_intent: false\n',
    );
    expect(off.requirePreparerInIntent).toBe(false);
  });
});

describe('local_artifact_dirs', () => {
  const parse = (extra: string) => parsePreparerConfig(`preparer:\n  auth: {type: none}\n${extra}`);

  it('defaults to the directory p2-bootstrap writes, and takes a list (empty refuses all)', () => {
    expect(parse('').localArtifactDirs).toEqual(['/var/lib/p2/artifacts']);
    const set = parse('  local_artifact_dirs: [/srv/artifacts, /opt/builds]\n');
    expect(set.localArtifactDirs).toEqual(['/srv/artifacts', '/opt/builds']);
    expect(parse('  local_artifact_dirs: []\n').localArtifactDirs).toEqual([]);
  });

  it('refuses relative directories and non-lists, naming the key', () => {
    for (const value of ['[artifacts]', '/srv/artifacts', '[1]']) {
      expect(() => parse(`  local_artifact_dirs: ${value}\n`)).toThrow(
        expect.objectContaining({
          code: 'P2_PREPARER_CONFIG_INVALID',
          message: expect.stringContaining('preparer.local_artifact_dirs'),
        }),
      );
    }
  });
});

describe('replay_guard and multi_signature', () => {
  const keyring = '  auth: {type: keyring, keyring: /etc/p2/pubring.gpg}\n';

  it('turns the replay guard on by default whenever manifests are signed', () => {
    const config = parsePreparerConfig(`preparer:\n${keyring}`);
    expect(config.replayGuard).toEqual({
      stateFile: '/var/lib/p2/preparer/replay-state.json',
      requireSerial: false,
    });
    expect(config.warnings).toEqual([]);
  });

  it('takes a state file and require_serial, and can be turned off', () => {
    expect(
      parsePreparerConfig(
        `preparer:\n${keyring}  replay_guard: {state_file: /srv/p2/replay.json, require_serial: true}\n`,
      ).replayGuard,
    ).toEqual({ stateFile: '/srv/p2/replay.json', requireSerial: true });
    const off = parsePreparerConfig(`preparer:\n${keyring}  replay_guard: {enabled: false}\n`);
    expect(off.replayGuard).toBeUndefined();
  });

  it('has no replay guard under auth none, and warns when one (or M-of-N) is configured', () => {
    expect(parsePreparerConfig('preparer:\n  auth: {type: none}\n')).toMatchObject({
      warnings: [],
    });
    const config = parsePreparerConfig(
      'preparer:\n  auth: {type: none, multi_signature: {p2t-a: {required: 2}}}\n  replay_guard: {require_serial: true}\n',
    );
    expect(config.replayGuard).toBeUndefined();
    expect(config.warnings).toEqual([
      expect.stringMatching(/^preparer\.auth\.multi_signature has no effect with auth type none/),
      expect.stringMatching(/^preparer\.replay_guard has no effect with auth type none/),
    ]);
  });

  it('reads M-of-N rules from auth.multi_signature (a pod, or * for all pods)', () => {
    const config = parsePreparerConfig(
      'preparer:\n  auth:\n    type: keyring\n    keyring: /k\n    multi_signature:\n      p2-preparer: {required: 2}\n      "*": {required: 1}\n',
    );
    expect(config.auth).toMatchObject({
      multiSignature: { 'p2-preparer': { required: 2 }, '*': { required: 1 } },
    });
  });

  it.each([
    [`${keyring}  replay_guard: true\n`, /preparer\.replay_guard: expected a mapping, found true/],
    [
      `${keyring}  replay_guard: {state_fil: /x}\n`,
      /preparer\.replay_guard\.state_fil: expected one of enabled, state_file, require_serial, found "state_fil"/,
    ],
    [
      `${keyring}  replay_guard: {state_file: state.json}\n`,
      /preparer\.replay_guard\.state_file: expected an absolute file path, found "state\.json"/,
    ],
    [
      `${keyring}  replay_guard: {require_serial: "yes"}\n`,
      /preparer\.replay_guard\.require_serial: expected true or false, found "yes"/,
    ],
    [
      `${keyring}  replay_guard: {enabled: 1}\n`,
      /preparer\.replay_guard\.enabled: expected true or false, found 1/,
    ],
    [
      '  auth: {type: keyring, keyring: /k, multi_signature: {p2t-a: {required: 0}}}\n',
      /preparer\.auth\.multi_signature\.p2t-a\.required: expected an integer ≥ 1, found 0/,
    ],
  ])('rejects %j naming the key, the expected and the found value', (lines, message) => {
    expect(() => parsePreparerConfig(`preparer:\n${lines}`)).toThrowError(message);
  });
});

describe('run_as policy keys', () => {
  const base = 'preparer:\n  node_name: h1\n  auth: {type: none}\n';
  it('refuses root and system accounts by default (uid minimum 1000, no exceptions)', () => {
    expect(parsePreparerConfig(base).runAs).toEqual({ minUid: 1000, allow: {} });
  });
  it('takes a uid minimum and per-pod exceptions', () => {
    const config = parsePreparerConfig(
      `${base}  run_as_min_uid: 2000\n  run_as_allow: {p2-preparer: [root], "*": [www-data]}\n`,
    );
    expect(config.runAs).toEqual({
      minUid: 2000,
      allow: { 'p2-preparer': ['root'], '*': ['www-data'] },
    });
  });
  it('names the key when an exception is not a list of users', () => {
    expect(() => parsePreparerConfig(`${base}  run_as_allow: {web: root}\n`)).toThrowError(
      /preparer\.run_as_allow\.web: expected a list of user names, found "root"/,
    );
    expect(() => parsePreparerConfig(`${base}  run_as_min_uid: -1\n`)).toThrowError(
      /run_as_min_uid/,
    );
  });
});
