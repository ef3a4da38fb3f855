import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  lintManifest,
  Manifest,
  ManifestBuilder,
  ManifestErrorCode,
  parseByteCount,
  parseGoDuration,
  parseManifest,
  splitClearsigned,
} from './index.js';

const fixture = (name: string): Buffer =>
  readFileSync(new URL(`../test/fixtures/p2/${name}`, import.meta.url));
const hoist = (extra = ''): string =>
  `id: p\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://h/app_0123456789abcdef0123456789abcdef01234567.tar.gz\n${extra}`;

describe('the P2 fixtures parse, with the fields P2 read', () => {
  it.each([
    ['manifest-test.yaml', 'hoisted-hello_def456.tar.gz', ''],
    [
      'pods-test.yaml',
      'hoisted-hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz',
      '3c021aff048ca8117593f9c71e03b87cf72fd440',
    ],
    ['pods-updated.yaml', 'http://localhost:8000/foo/bar/baz/hello_def456.tar.gz', ''],
    ['preparer-test.yaml', 'http://localhost:8000/foo/bar/baz/hello_abc123_vagrant.tar.gz', ''],
  ])('%s', (file, location, version) => {
    const m = parseManifest(fixture(file), { source: file });
    expect(m.id).toBe('hello');
    expect(m.runAs).toBe('hello');
    expect(Object.keys(m.launchables)).toEqual(['app']);
    const app = m.launchables.app;
    expect(app?.launchableType).toBe('hoist');
    expect(app?.location).toBe(location);
    expect(app?.entryPoints).toEqual([]);
    expect(app?.restartPolicy).toBe('');
    // The dead `launchable_id` key is kept aside, not lost, and ignored.
    expect(app?.extra).toEqual({ launchable_id: file === 'preparer-test.yaml' ? 'hello' : 'app' });
    expect(m.launchableVersion('app')).toBe(version);
    expect(m.restartTimeoutSeconds('app')).toBe(60);
    expect(m.config).toEqual({
      ENVIRONMENT: 'staging',
      TMPDIR: '/data/app/ocrcard/current/tmp',
      hoptoad: {
        url: 'https://hoptoad.com/notifier_api/v2/notices/',
        api_key: 'aabbccddeeffgghhiiijjjkkklll',
        api_key_warn: 'aabbccddeeffgghhiiijjjkkklll',
      },
    });
    expect(m.statusCheck()).toBeUndefined();
    expect(m.readonly).toBeUndefined();
    expect(m.resourceLimits).toBeUndefined();
    expect(m.terminationGracePeriodSeconds).toBe(3600);
    expect(m.clearsigned).toBeUndefined();
    expect(Buffer.from(m.raw).equals(fixture(file))).toBe(true);
  });

  it('current-with-version.yaml: a version launchable with tags and no config', () => {
    const m = parseManifest(fixture('current-with-version.yaml'));
    expect(m.id).toBe('some-app');
    expect(m.launchables['some-app']).toMatchObject({
      launchableType: 'hoist',
      location: '',
      version: { id: 'asdf', artifactName: '', tags: { directory: 'deployable' } },
    });
    expect(m.launchableVersion('some-app')).toBe('asdf');
    expect(m.config).toEqual({});
  });
});

describe('status resolution (spec 01 §1.2)', () => {
  it.each([
    ['', undefined],
    [
      'status_port: 8000\n',
      { port: 8000, path: '/_status', scheme: 'https', localhostOnly: false },
    ],
    [
      'status_port: 8000\nstatus: {port: 9000}\n',
      { port: 8000, path: '/_status', scheme: 'https', localhostOnly: false },
    ],
    [
      'status: {port: 9000}\n',
      { port: 9000, path: '/_status', scheme: 'https', localhostOnly: false },
    ],
    [
      'status: {port: 9000, http: true}\n',
      { port: 9000, path: '/_status', scheme: 'http', localhostOnly: false },
    ],
    [
      'status_http: true\nstatus: {port: 9000}\n',
      { port: 9000, path: '/_status', scheme: 'http', localhostOnly: false },
    ],
    [
      'status: {port: 1, path: _foo}\n',
      { port: 1, path: '/_foo', scheme: 'https', localhostOnly: false },
    ],
    [
      'status: {port: 1, path: /_foo}\n',
      { port: 1, path: '/_foo', scheme: 'https', localhostOnly: false },
    ],
    [
      'status: {port: 1, path: a//b/../c/}\n',
      { port: 1, path: '/a/c', scheme: 'https', localhostOnly: false },
    ],
    [
      'status: {port: 1, localhost_only: true}\n',
      { port: 1, path: '/_status', scheme: 'https', localhostOnly: true },
    ],
    ['status: {path: health}\n', undefined],
  ])('%j', (yaml, expected) => {
    expect(parseManifest(`id: p\n${yaml}`).statusCheck()).toEqual(expected);
  });
});

describe('launchable version and restart timeout', () => {
  it.each([
    [
      'location: https://h/a/app_0123456789abcdef0123456789abcdef01234567.tar.gz',
      '0123456789abcdef0123456789abcdef01234567',
    ],
    [
      'location: https://h/app_0123456789abcdef0123456789abcdef01234567-rc1.tar.gz?x=1',
      '0123456789abcdef0123456789abcdef01234567-rc1',
    ],
    [
      'location: file:///srv/my-app_0123456789abcdef0123456789abcdef01234567.tar.gz',
      '0123456789abcdef0123456789abcdef01234567',
    ],
    ['location: https://h/app_0123456789ABCDEF0123456789abcdef01234567.tar.gz', ''],
    ['location: https://h/app_def456.tar.gz', ''],
    ['location: https://h/app.tar.gz', ''],
    ['version: {id: v1}', 'v1'],
  ])('%s → %j', (line, version) => {
    const m = parseManifest(
      `id: p\nlaunchables:\n  app:\n    launchable_type: hoist\n    ${line}\n`,
    );
    expect(m.launchableVersion('app')).toBe(version);
  });

  it('docker: the image sha256', () => {
    const m = parseManifest(
      'id: p\nlaunchables:\n  d: {launchable_type: docker, image: {name: r/o/img, sha256: abc}}\n',
    );
    expect(m.launchableVersion('d')).toBe('abc');
  });

  it.each([
    ['90s', 90],
    ['1m30s', 90],
    ['500ms', 0],
    ['1.5h', 5400],
    ['2m', 120],
    ['soon', 60],
    ['90', 60],
  ])('restart_timeout %s → %d seconds', (text, seconds) => {
    const m = parseManifest(hoist(`    restart_timeout: ${text}\n`));
    expect(m.restartTimeoutSeconds('app')).toBe(seconds);
  });

  it('reports the fallbacks P2 logged to the given logger', () => {
    const warnings: Array<[Record<string, unknown>, string]> = [];
    const logger = {
      warn: (details: Record<string, unknown>, message: string) =>
        warnings.push([details, message]),
    };
    const m = parseManifest(
      'id: p\nartifact_registry: "::"\nlaunchables:\n  app: {launchable_type: hoist, location: https://h/app_def456.tar.gz, restart_timeout: soon}\n',
      { logger },
    );
    expect(m.launchableVersion('app')).toBe('');
    expect(m.restartTimeoutSeconds('app')).toBe(60);
    expect(m.artifactRegistryUrl()).toBeUndefined();
    expect(warnings.map(([, message]) => message)).toEqual([
      'cannot derive a version from "app_def456.tar.gz" (expected <name>_<40 hex>.tar.gz); installing without one',
      'restart_timeout "soon" is not a duration; using 60s',
      'artifact_registry is not a URL; ignoring it',
    ]);
    expect(warnings[0]?.[0]).toEqual({
      pod: 'p',
      launchable: 'app',
      location: 'https://h/app_def456.tar.gz',
    });
    expect(
      parseManifest('id: p\nartifact_registry: https://r.example/x\n').artifactRegistryUrl()?.host,
    ).toBe('r.example');
  });

  it('asking for an unknown launchable is a coded error', () => {
    const m = parseManifest(hoist());
    expect(() => m.restartTimeoutSeconds('nope')).toThrow(
      expect.objectContaining({
        code: ManifestErrorCode.NO_SUCH_LAUNCHABLE,
        message: 'pod p has no launchable "nope" (it has: app)',
      }),
    );
  });

  it('parses Go durations', () => {
    expect(parseGoDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseGoDuration('-1s')).toBe(-1000);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('1')).toBeUndefined();
    expect(parseGoDuration('')).toBeUndefined();
  });

  it.each([
    ['512M', 536870912],
    ['1.5G', 1610612736],
    ['2gb', 2147483648],
    [' 10 K ', 10240],
    ['1T', 2 ** 40],
    ['100B', 100],
    ['1073741824', 1073741824],
    ['12 parsecs', undefined],
    ['1.2.3G', undefined],
  ])('byte count %j', (text, bytes) => {
    expect(parseByteCount(text)).toBe(bytes);
  });
});

describe('SHA invariance (spec 01 §1.8.1)', () => {
  it('comments, key order, quoting, indentation, unknown keys and byte units do not change the SHA', () => {
    const a = parseManifest(
      'id: p\nconfig: {b: 1, a: "x"}\nlaunchables: {}\nresource_limits: {cgroup: {memory: 1G}}\n',
    );
    const b = parseManifest(
      '# comment\nresource_limits:\n    cgroup:\n        memory: 1073741824\nnew_field: 1\nconfig:\n    a: x  # c\n    b: 1\nid: "p"\n',
    );
    expect(b.sha()).toBe(a.sha());
    expect(b.raw).not.toEqual(a.raw);
    expect(b.extra).toEqual({ new_field: 1 });
  });

  it('a changed value changes the SHA', () => {
    expect(parseManifest('id: p\nconfig: {a: 1}\n').sha()).not.toBe(
      parseManifest('id: p\nconfig: {a: 2}\n').sha(),
    );
  });
});

describe('clearsigned envelopes (spec 01 §1.9)', () => {
  const signed = (
    body: string,
    { header = 'Hash: SHA256', before = '', after = '' } = {},
  ): string =>
    `${before}-----BEGIN PGP SIGNED MESSAGE-----\n${header}\n\n${body}-----BEGIN PGP SIGNATURE-----\nVersion: x\n\niQEcBAEBCAAGBQJV3LVO\n=IMbK\n-----END PGP SIGNATURE-----\n${after}`;

  it('undoes dash-escaping, strips trailing blanks, and derives CRLF canonical text', () => {
    const parts = splitClearsigned(signed('id: p  \n- -x: 1\t\nconfig: {}\n'));
    expect(parts?.yamlText).toBe('id: p\n-x: 1\nconfig: {}\n');
    expect(Buffer.from(parts?.signedBytes ?? []).toString()).toBe('id: p\r\n-x: 1\r\nconfig: {}');
    expect(Buffer.from(parts?.signature ?? []).toString('base64')).toBe('iQEcBAEBCAAGBQJV3LVO');
    expect(parts?.hashHeaders).toEqual(['SHA256']);
  });

  it('allows leading junk and ignores text after the signature', () => {
    const text = signed('id: p\n', { before: 'junk line\n\n', after: 'trailing text\n' });
    const m = parseManifest(text);
    expect(m.id).toBe('p');
    expect(m.clearsigned).toBeDefined();
    expect(new TextDecoder().decode(m.raw)).toBe(text);
  });

  it.each([
    ['a header other than Hash', { header: 'Comment: hi' }],
    ['a non-ASCII header', { header: 'Hash: SHÄ256' }],
  ])(
    'is not a clearsigned document with %s (parsed as plain YAML, which fails)',
    (_name, options) => {
      const text = signed('id: p\n', options);
      expect(splitClearsigned(text)).toBeUndefined();
      expect(() => parseManifest(text)).toThrow(
        expect.objectContaining({ code: expect.stringMatching(/^P2_MANIFEST_/) }),
      );
    },
  );

  it('needs the begin line at the start of a line, alone', () => {
    expect(splitClearsigned(`x ${signed('id: p\n')}`)).toBeUndefined();
    expect(
      splitClearsigned(signed('id: p\n').replace('MESSAGE-----', 'MESSAGE----- extra')),
    ).toBeUndefined();
    expect(splitClearsigned('id: p\n')).toBeUndefined();
  });

  it('signed and unsigned forms of a manifest have the same SHA', () => {
    expect(parseManifest(signed('id: p\nconfig: {a: 1}\n')).sha()).toBe(
      parseManifest('id: p\nconfig: {a: 1}\n').sha(),
    );
  });
});

describe('ManifestBuilder (spec 01 §1.7)', () => {
  it('builds a manifest whose bytes are its canonical form', () => {
    const m = new ManifestBuilder()
      .setId('hello')
      .setLaunchable('app', {
        launchableType: 'hoist',
        location: 'https://h/hello_x.tar.gz',
        cgroup: { cpus: 1 },
      })
      .setConfig({ port: 8080, ratio: 0.5, nested: { list: [1, 'two'] } })
      .setStatusPort(8080)
      .setStatusHttp(true)
      .build();
    expect(m.text()).toBe(
      [
        'id: hello',
        'launchables:',
        '  app:',
        '    launchable_type: hoist',
        '    cgroup:',
        '      cpus: 1',
        '    location: https://h/hello_x.tar.gz',
        'config:',
        '  nested:',
        '    list:',
        '    - 1',
        '    - two',
        '  port: 8080',
        '  ratio: 0.5',
        'status:',
        '  http: true',
        '  port: 8080',
        '',
      ].join('\n'),
    );
    expect(m.text()).toBe(m.canonicalYaml());
    expect(parseManifest(m.raw).sha()).toBe(m.sha());
  });

  it('setting the status port clears the legacy status_port', () => {
    const parsed = parseManifest('id: p\nstatus_port: 8000\nstatus_http: true\n');
    expect(parsed.canonicalYaml()).toBe(
      'id: p\nlaunchables: {}\nconfig: {}\nstatus_port: 8000\nstatus_http: true\n',
    );
    const rebuilt = parsed.toBuilder().setStatusPort(9000).setStatusHttp(true).build();
    expect(rebuilt.canonicalYaml()).toBe(
      'id: p\nlaunchables: {}\nconfig: {}\nstatus:\n  http: true\n  port: 9000\n',
    );
  });

  it('toBuilder keeps everything but the original bytes and signature, and unknown keys survive', () => {
    const parsed = parseManifest(
      `${hoist('    launchable_id: x\n')}future_key: {a: 1}\nconfig: {z: [1, 2]}\n`,
    );
    const rebuilt = parsed.toBuilder().build();
    expect(rebuilt.sha()).toBe(parsed.sha());
    expect(rebuilt.extra).toEqual({ future_key: { a: 1 } });
    expect(rebuilt.launchables.app?.extra).toEqual({ launchable_id: 'x' });
    expect(rebuilt.text()).toContain('future_key:\n  a: 1\n');
    expect(rebuilt.text()).toContain('    launchable_id: x\n');
    expect(parseManifest(rebuilt.raw).extra).toEqual({ future_key: { a: 1 } });
    expect(rebuilt.clearsigned).toBeUndefined();
  });

  it('launchable ids are plain text, even __proto__', () => {
    const parsed = parseManifest(
      'id: p\nlaunchables:\n  __proto__: {launchable_type: hoist, location: u}\n',
    );
    expect(Object.keys(parsed.launchables)).toEqual(['__proto__']);
    const rebuilt = parsed
      .toBuilder()
      .setLaunchable('b', { launchableType: 'hoist', location: 'v' })
      .build();
    expect(Object.keys(rebuilt.launchables).sort()).toEqual(['__proto__', 'b']);
    expect(rebuilt.sha()).toBe(parseManifest(rebuilt.raw).sha());
  });

  it('deep-copies config on get and set', () => {
    const config = { a: { b: 1 } };
    const builder = new ManifestBuilder().setId('p').setConfig(config);
    config.a.b = 2;
    const m = builder.build();
    expect(m.config).toEqual({ a: { b: 1 } });
    (m.config.a as { b: number }).b = 3;
    expect(m.config).toEqual({ a: { b: 1 } });
  });

  it('keeps non-string keys given as a Map, and refuses what YAML cannot hold', () => {
    const m = new ManifestBuilder()
      .setId('p')
      .setConfig(
        new Map<unknown, unknown>([
          [2, 'two'],
          ['1', 'one'],
        ]),
      )
      .build();
    expect(m.configFiles().config).toBe('2: two\n"1": one\n');
    expect(() => new ManifestBuilder().setConfig({ f: () => 1 })).toThrow(
      expect.objectContaining({ code: ManifestErrorCode.BUILDER }),
    );
    expect(() => new ManifestBuilder().setStatusPort(70000)).toThrow(
      expect.objectContaining({ code: ManifestErrorCode.BUILDER }),
    );
  });

  it('validates like a parse', () => {
    expect(() => new ManifestBuilder().build()).toThrow(
      expect.objectContaining({ code: ManifestErrorCode.MISSING_ID }),
    );
    expect(() =>
      new ManifestBuilder().setId('p').setLaunchable('a', { launchableType: 'hoist' }).build(),
    ).toThrow(expect.objectContaining({ code: ManifestErrorCode.MISSING_LOCATION }));
  });

  it('a parsed manifest is immutable', () => {
    const m = parseManifest(hoist());
    expect(m).toBeInstanceOf(Manifest);
    expect(() => {
      (m.launchables.app as { location: string }).location = 'x';
    }).toThrow(TypeError);
  });
});

describe('lintManifest (strict checks for new manifests)', () => {
  it('passes a clean manifest', () => {
    expect(
      lintManifest(parseManifest(hoist('    restart_timeout: 90s\n    restart_policy: never\n'))),
    ).toEqual({
      errors: [],
      warnings: [],
    });
  });

  it('warns about what P2 silently ignored', () => {
    const m = parseManifest(
      'id: Web\nstatus_port: 8000\nextra_key: 1\nlaunchables:\n  app:\n    launchable_type: hoist\n    launchable_id: app\n    location: app.tar.gz\n---\nid: second\n',
    );
    expect(lintManifest(m).errors).toEqual([]);
    expect(lintManifest(m).warnings.map((w) => `${w.rule} ${w.path}`)).toEqual([
      'run-as-default id',
      'extra-documents ',
      'unknown-key extra_key',
      'legacy-status-port status_port',
      'url launchables.app.location',
      'unknown-key launchables.app.launchable_id',
    ]);
  });

  it.each([
    ['id: "a__b"', 'pod-id-double-underscore'],
    ['id: .hidden', 'pod-id-dot'],
    ['id: "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"', 'pod-id-uuid'],
    ['id: urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301', 'pod-id-uuid'],
    ['id: 3f2504e04f8911d39a0c0305e82c3301', 'pod-id-uuid'],
    [
      'id: p\nlaunchables:\n  "a/b": {launchable_type: hoist, location: https://h/x}',
      'launchable-id-slash',
    ],
    [
      'id: p\nlaunchables:\n  a: {launchable_type: hoist, location: https://h/x, env: {"A=B": x}}',
      'env-name',
    ],
    [
      'id: p\nlaunchables:\n  a: {launchable_type: hoist, location: https://h/x, entry_points: [/bin/sh]}',
      'entry-point-path',
    ],
    [
      'id: p\nlaunchables:\n  a: {launchable_type: hoist, location: https://h/x, restart_timeout: -5s}',
      'restart-timeout',
    ],
    ['id: p\nstatus: {port: 70000}', 'status-port-range'],
    ['id: p\nresource_limits: {cgroup: {cpus: -1}}', 'cgroup-negative'],
  ])('%s → %s', (yaml, rule) => {
    expect(lintManifest(parseManifest(`${yaml}\n`)).errors.map((e) => e.rule)).toContain(rule);
  });
});
