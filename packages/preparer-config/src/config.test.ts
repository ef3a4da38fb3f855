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
    expect(config.artifactIdleTimeoutMs).toBe(60_000);
    // P2's flat cgroup names at each mount's root, and P2's health writer.
    expect(config.cgroupNaming).toEqual({ nested: false, parent: '' });
    expect(config.podCgroupLimits).toBe(false);
    expect(config.healthWriter).toEqual({
      sessionTtlMs: 15_000,
      sessionRetryBaseMs: 10_000,
      sessionRetryMaxMs: 300_000,
      publishRetryMs: 5_000,
      flapControl: { burst: 16, refillPerMinute: 4, holdRefillPeriods: 4 },
    });
  });

  it("reads consul_config's watch wait and additional_consul_headers, never showing a header value", () => {
    const config = parsePreparerConfig(
      'preparer:\n  auth: {type: none}\n  consul_config: {watch_wait_time: 5m}\n  additional_consul_headers: {X-Proxy-Auth: s3cret, X-Team: infra}\n',
    );
    expect(config.storeWaitMs).toBe(300_000);
    expect(config.storeHeaders).toEqual({ 'X-Proxy-Auth': 's3cret', 'X-Team': 'infra' });
    expect(parsePreparerConfig('preparer:\n  auth: {type: none}\n').storeWaitMs).toBeUndefined();
    const refused = (yaml: string) => {
      try {
        parsePreparerConfig(`preparer:\n  auth: {type: none}\n${yaml}`);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused('  consul_config: {watch_wait_time: 1h}\n')).toContain(
      'preparer.consul_config.watch_wait_time: expected a duration from 1s to 10m',
    );
    expect(refused('  consul_config: {wait: 5m}\n')).toContain('preparer.consul_config.wait');
    const secret = refused('  additional_consul_headers: {X-Key: [s3cret]}\n');
    expect(secret).toContain('preparer.additional_consul_headers.X-Key: expected a string');
    expect(secret).not.toContain('s3cret');
    expect(refused('  additional_consul_headers: {"bad name": v}\n')).toContain(
      'HTTP header names',
    );
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

  it('reads removal_grace (default 1s; 0s removes at once, as P2) and refuses what is not a duration up to 60s', () => {
    const base = 'preparer:\n  auth: {type: none}\n';
    expect(parsePreparerConfig(base).removalGraceMs).toBe(1000);
    expect(parsePreparerConfig(`${base}  removal_grace: 0s\n`).removalGraceMs).toBe(0);
    expect(parsePreparerConfig(`${base}  removal_grace: 2500ms\n`).removalGraceMs).toBe(2500);
    expect(() => parsePreparerConfig(`${base}  removal_grace: 5m\n`)).toThrow(
      /removal_grace.*0s \(remove at once, as P2\) to 60s/,
    );
    expect(() => parsePreparerConfig(`${base}  removal_grace: later\n`)).toThrow(/removal_grace/);
  });

  it('reads artifact_idle_timeout as a duration and refuses one too short to download anything', () => {
    const base = 'preparer:\n  auth: {type: none}\n  artifact_idle_timeout: ';
    expect(parsePreparerConfig(`${base}2s\n`).artifactIdleTimeoutMs).toBe(2000);
    expect(() => parsePreparerConfig(`${base}10ms\n`)).toThrow(/artifact_idle_timeout/);
    expect(() => parsePreparerConfig(`${base}soon\n`)).toThrow(/artifact_idle_timeout/);
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

describe('params (Go flag values) and cgroup_parent', () => {
  const load = (params: string, extra = '') =>
    parsePreparerConfig(`preparer:\n  auth: {type: none}\n  params: {${params}}\n${extra}`);

  it.each([
    ['"true"', true],
    ['true', true],
    ['"1"', true],
    ['t', true],
    ['True', true],
    ['"0"', false],
    ['F', false],
  ])('nested_cgroups: %s is read as Go reads it', (value, nested) => {
    expect(load(`nested_cgroups: ${value}`).cgroupNaming.nested).toBe(nested);
  });

  it('include_pod_id_arg limits the pod cgroup with nested names, and is only warned about without', () => {
    const nested = load('nested_cgroups: "t", include_pod_id_arg: "1"');
    expect(nested.podCgroupLimits).toBe(true);
    expect(nested.warnings).toEqual([]);
    const flat = load('include_pod_id_arg: "true"');
    expect(flat.podCgroupLimits).toBe(false);
    expect(flat.warnings).toEqual([
      expect.stringContaining(
        'params.include_pod_id_arg has no effect without params.nested_cgroups',
      ),
    ]);
  });

  it('cgroup_parent is a cgroup path below each mount, for both forms', () => {
    expect(load('nested_cgroups: "1"', '  cgroup_parent: /p2.slice/\n').cgroupNaming).toEqual({
      nested: true,
      parent: 'p2.slice',
    });
    expect(load('', '  cgroup_parent: a/b\n').cgroupNaming).toEqual({
      nested: false,
      parent: 'a/b',
    });
  });

  it("maps P2's health params onto the health writer", () => {
    const config = load(
      'health_session_ttl_sec: "30", session_retry_seconds: "2", session_max_retry_seconds: "0x3c", health_retry_time_sec: "0", health_max_bucket_size: "3", health_writes_per_minute: "60", health_resume_limit: "1_0", healthcheck_timeout: "010"',
    );
    expect(config.healthWriter).toEqual({
      sessionTtlMs: 30_000,
      sessionRetryBaseMs: 2_000,
      sessionRetryMaxMs: 60_000,
      publishRetryMs: 0,
      flapControl: { burst: 3, refillPerMinute: 60, holdRefillPeriods: 10 },
    });
    expect(config.healthCheckTimeoutMs).toBe(8_000); // a leading 0 is octal to Go
    // Validated though p2 does nothing with them (see PREPARER_PARAMS).
    expect(load('audit_log_sqlite_ttl: "60", runc_path: /usr/bin/runc').params).toEqual({
      audit_log_sqlite_ttl: '60',
      runc_path: '/usr/bin/runc',
    });
  });

  it.each([
    [
      'nested_cgroups: "yes"',
      /preparer.params.nested_cgroups: expected a boolean as Go reads it .*found "yes"/,
    ],
    ['include_pod_id_arg: "on"', /preparer.params.include_pod_id_arg: expected a boolean/],
    ['nested_cgroups: {a: 1}', /preparer.params.nested_cgroups: expected a string/],
    [
      'healthcheck_timeout: "1.5"',
      /preparer.params.healthcheck_timeout: expected an integer ≥ 1 \(seconds\)/,
    ],
    ['healthcheck_timeout: "0"', /preparer.params.healthcheck_timeout: expected an integer ≥ 1/],
    [
      'health_session_ttl_sec: "5"',
      /preparer.params.health_session_ttl_sec: expected an integer from 10 to 86400/,
    ],
    [
      'health_session_ttl_sec: "1e3"',
      /preparer.params.health_session_ttl_sec: expected an integer/,
    ],
    [
      'health_writes_per_minute: "0"',
      /preparer.params.health_writes_per_minute: expected an integer ≥ 1/,
    ],
    [
      'health_max_bucket_size: "-1"',
      /preparer.params.health_max_bucket_size: expected an integer ≥ 1/,
    ],
    ['health_resume_limit: "4s"', /preparer.params.health_resume_limit: expected an integer ≥ 0/],
    [
      'health_retry_time_sec: "5s"',
      /preparer.params.health_retry_time_sec: expected an integer ≥ 0/,
    ],
    ['audit_log_sqlite_ttl: "3d"', /preparer.params.audit_log_sqlite_ttl: expected an integer ≥ 0/],
    [
      'session_retry_seconds: "0"',
      /preparer.params.session_retry_seconds: expected an integer ≥ 1/,
    ],
    [
      'session_retry_seconds: "60", session_max_retry_seconds: "30"',
      /preparer.params.session_max_retry_seconds: expected at least params.session_retry_seconds \(60\), found "30"/,
    ],
  ])('refuses %s with the param path', (params, message) => {
    expect(() => load(params)).toThrowError(message);
  });

  it('refuses a cgroup_parent that is not a plain cgroup path', () => {
    for (const bad of ['../escape', 'a//b', 'memory.max'])
      expect(() => load('', `  cgroup_parent: "${bad}"\n`)).toThrowError(
        /preparer.cgroup_parent: expected a cgroup path below each controller mount/,
      );
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

describe('opencontainer (container pods)', () => {
  const parse = (extra: string) =>
    parsePreparerConfig(`preparer:\n  auth: {type: none}\n${extra}`).opencontainer;

  it('allows nothing beyond the policy by default and takes runc_path', () => {
    expect(parse('').allow).toEqual([]);
    expect(parse('  params: {runc_path: /usr/sbin/runc}\n').runcPath).toBe('/usr/sbin/runc');
  });

  it('takes explicit allowances, one item each, and refuses anything else', () => {
    expect(parse('  opencontainer: {allow: [hooks, host_pid]}\n').allow).toEqual([
      'hooks',
      'host_pid',
    ]);
    expect(() => parse('  opencontainer: {allow: [everything]}\n')).toThrow(
      /preparer.opencontainer.allow\[0\]: expected one of hooks, capabilities/,
    );
    expect(() => parse('  opencontainer: {allow: hooks}\n')).toThrow(
      /opencontainer.allow: expected a list/,
    );
    expect(() => parse('  opencontainer: {privileged: true}\n')).toThrow(
      /opencontainer.privileged/,
    );
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

describe('artifact_registry_url and os_version_file (version: launchables)', () => {
  const parse = (extra: string) => parsePreparerConfig(`preparer:\n  auth: {type: none}\n${extra}`);

  it('are implemented: read, and not reported as ignored', () => {
    const config = parse(
      '  artifact_registry_url: https://registry.local:8443\n  os_version_file: /etc/redhat-release\n',
    );
    expect(config.artifactRegistryUrl).toBe('https://registry.local:8443');
    expect(config.osVersionFile).toBe('/etc/redhat-release');
    expect(config.ignoredKeys).toEqual([]);
    const unset = parse('');
    expect(unset.artifactRegistryUrl).toBeUndefined();
    expect(unset.osVersionFile).toBeUndefined();
  });

  it('refuse a registry that is not an http(s) URL and a relative release file, naming the key', () => {
    for (const [key, value] of [
      ['artifact_registry_url', 'file:///srv/registry'],
      ['artifact_registry_url', 'registry.local'],
      ['os_version_file', 'etc/os-release'],
    ]) {
      expect(() => parse(`  ${key}: ${value}\n`)).toThrow(
        expect.objectContaining({
          code: 'P2_PREPARER_CONFIG_INVALID',
          message: expect.stringContaining(`preparer.${key}`),
        }),
      );
    }
  });
});

describe('tracing', () => {
  it('takes an http(s) OTLP endpoint, and refuses anything else naming the key', () => {
    const none = 'preparer:\n  auth: {type: none}\n';
    expect(parsePreparerConfig(none).tracing).toBeUndefined();
    expect(
      parsePreparerConfig(`${none}  tracing: {otlp_endpoint: 'http://127.0.0.1:4318'}\n`).tracing,
    ).toEqual({ otlpEndpoint: 'http://127.0.0.1:4318' });
    for (const [line, key] of [
      ['{otlp_endpoint: collector:4318}', 'tracing.otlp_endpoint'],
      ['{endpoint: http://c:4318}', 'tracing.endpoint'],
    ])
      expect(() => parsePreparerConfig(`${none}  tracing: ${line}\n`)).toThrow(
        expect.objectContaining({ message: expect.stringContaining(`preparer.${key}`) }),
      );
  });
});

describe('auto_revert', () => {
  const none = 'preparer:\n  auth: {type: none}\n';

  it('is on by default (60s), takes a duration or 0, and a state file', () => {
    expect(parsePreparerConfig(none).autoRevert).toEqual({
      afterMs: 60_000,
      stateFile: '/var/lib/p2/preparer/reverted.json',
    });
    expect(
      parsePreparerConfig(`${none}  auto_revert: {after: 90s, state_file: /srv/p2/reverted.json}\n`)
        .autoRevert,
    ).toEqual({ afterMs: 90_000, stateFile: '/srv/p2/reverted.json' });
    expect(parsePreparerConfig(`${none}  auto_revert: {after: 0}\n`).autoRevert.afterMs).toBe(0);
  });

  it('refuses an unknown key, a bad duration and a relative state file, naming the key', () => {
    for (const [line, key] of [
      ['{aftr: 10s}', 'auto_revert.aftr'],
      ['{after: soon}', 'auto_revert.after'],
      ['{state_file: reverted.json}', 'auto_revert.state_file'],
    ])
      expect(() => parsePreparerConfig(`${none}  auto_revert: ${line}\n`)).toThrow(
        expect.objectContaining({
          code: 'P2_PREPARER_CONFIG_INVALID',
          message: expect.stringContaining(`preparer.${key}`),
        }),
      );
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

describe('hooks_manifest', () => {
  const base = 'preparer:\n  node_name: h1\n  auth: {type: none}\n';
  it('parses the hook pod manifest given as a YAML block; no_hooks (or nothing) means none', () => {
    const config = parsePreparerConfig(
      `${base}  hooks_manifest: |\n    id: users\n    run_as: root\n    launchables:\n      create:\n        launchable_type: hoist\n        location: https://example.com/create_abc.tar.gz\n`,
    );
    expect(config.hooksManifest?.id).toBe('users');
    expect(config.hooksManifest?.runAs).toBe('root');
    expect(Object.keys(config.hooksManifest?.launchables ?? {})).toEqual(['create']);
    expect(parsePreparerConfig(`${base}  hooks_manifest: no_hooks\n`).hooksManifest).toBe(
      undefined,
    );
    expect(parsePreparerConfig(base).hooksManifest).toBeUndefined();
  });
  it('refuses an empty value or text that is not a manifest, naming the key', () => {
    expect(() => parsePreparerConfig(`${base}  hooks_manifest: ""\n`)).toThrowError(
      /preparer\.hooks_manifest: expected a pod manifest, or no_hooks/,
    );
    expect(() =>
      parsePreparerConfig(`${base}  hooks_manifest: |\n    launchables: [1, 2]\n`),
    ).toThrowError(/preparer\.hooks_manifest is not a pod manifest/);
  });
});
