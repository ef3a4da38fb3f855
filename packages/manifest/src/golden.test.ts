/**
 * Every vector of spec/01-appendix-sha-goldens.md (made by running the original Go code), copied
 * into test/fixtures/golden/ by a script so the tests run from a clean clone.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestErrorCode, parseManifest } from './index.js';

const root = new URL('../test/', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

interface GoldenCase {
  name: string;
  dir: string;
  fixture?: string;
  sha: string;
  configFileName: string;
  resourceLimits: boolean;
  signedBytes?: string;
  signedBytesLength?: number;
}
const cases = JSON.parse(read('fixtures/golden/cases.json')) as GoldenCase[];

describe('appendix golden vectors', () => {
  it('covers all twelve cases of the appendix', () => {
    expect(cases).toHaveLength(12);
  });

  describe.each(cases)('$name', (c) => {
    const input = c.fixture
      ? readFileSync(new URL(`fixtures/p2/${c.fixture}`, root))
      : read(`fixtures/golden/${c.dir}/input.yaml`);
    const manifest = parseManifest(input, { source: c.dir });

    it('has the canonical form', () => {
      expect(manifest.canonicalYaml()).toBe(read(`fixtures/golden/${c.dir}/canonical.yaml`));
    });
    it('has the SHA', () => {
      expect(manifest.sha()).toBe(c.sha);
    });
    it('produces the config, platform and resource-limits files', () => {
      const files = manifest.configFiles();
      expect(files.configFileName).toBe(c.configFileName);
      expect(files.config).toBe(read(`fixtures/golden/${c.dir}/config.yaml`));
      expect(files.platformFileName).toBe(c.configFileName.replace(/\.yaml$/, '.platform.yaml'));
      expect(files.platform).toBe(read(`fixtures/golden/${c.dir}/platform.yaml`));
      if (c.resourceLimits) {
        expect(files.resourceLimitsFileName).toBe(
          c.configFileName.replace(/\.yaml$/, '.resource_limits.yaml'),
        );
        expect(files.resourceLimits).toBe(read(`fixtures/golden/${c.dir}/resource_limits.yaml`));
      } else {
        expect(files.resourceLimitsFileName).toBeUndefined();
        expect(files.resourceLimits).toBeUndefined();
      }
    });
    it('keeps the original bytes verbatim', () => {
      expect(Buffer.from(manifest.raw).equals(Buffer.from(input))).toBe(true);
    });
    if (c.signedBytes !== undefined) {
      it('splits the clearsigned envelope into the exact signed bytes', () => {
        expect(manifest.clearsigned).toBeDefined();
        const signed = Buffer.from(manifest.clearsigned?.signedBytes ?? []);
        expect(signed.length).toBe(c.signedBytesLength);
        expect(signed.toString('utf8')).toBe(c.signedBytes);
        expect(manifest.clearsigned?.hashHeaders).toEqual(['SHA256']);
        // A binary OpenPGP signature packet: new- or old-format packet tag 2.
        const tag = manifest.clearsigned?.signature[0] ?? 0;
        expect(tag & 0x80).toBe(0x80);
        expect(tag & 0x40 ? tag & 0x3f : (tag >> 2) & 0x0f).toBe(2);
      });
    }
  });

  it('the spec 01 §1.8.1 reference document hashes to f7fdad6e…c6f0', () => {
    const text = [
      'id: thepod',
      'launchables:',
      '  my-app:',
      '    launchable_type: hoist',
      '    cgroup:',
      '      cpus: 4',
      '      memory: 1073741824',
      '    location: https://localhost:4444/foo/bar/baz.tar.gz',
      'config:',
      '  ENVIRONMENT: staging',
      'status_port: 8000',
      '',
    ].join('\n');
    const manifest = parseManifest(text);
    expect(manifest.canonicalYaml()).toBe(text);
    expect(manifest.sha()).toBe('f7fdad6e2362c9345a83196701dafb989fa8229b8d671642976cb35b5166c6f0');
    // memory: 1G hashes the same (units are re-emitted as bytes).
    expect(parseManifest(text.replace('1073741824', '1G')).sha()).toBe(manifest.sha());
  });

  it('read-only defaulting changes the SHA as in P2 (install-time quirk), raw bytes unchanged', () => {
    const minimal = parseManifest(read('fixtures/golden/synthetic-minimal/input.yaml'));
    expect(minimal.sha()).toBe('be6cd2232e8d3c9e6a6f55cb2d4c976db28582149b6789f411dccf2dd390412e');
    const installed = minimal.withReadonlyDefault(false);
    expect(installed.canonicalYaml()).toBe(
      'id: thepod\nlaunchables: {}\nconfig: {}\nreadonly: false\n',
    );
    expect(installed.sha()).toBe(
      'c18dd81ef30f5796325853f1efbb183ae454fa693169a8feb5fb0ea4f801b429',
    );
    expect(installed.configFiles().configFileName).toBe(
      'thepod_c18dd81ef30f5796325853f1efbb183ae454fa693169a8feb5fb0ea4f801b429.yaml',
    );
    expect(installed.raw).toEqual(minimal.raw);
    expect(minimal.sha()).toBe('be6cd2232e8d3c9e6a6f55cb2d4c976db28582149b6789f411dccf2dd390412e');
    // An explicit readonly is left alone.
    const explicit = parseManifest('id: thepod\nreadonly: true\n');
    expect(explicit.withReadonlyDefault(false)).toBe(explicit);
  });

  describe('validation failures (appendix table, exact texts after "invalid manifest: ")', () => {
    it.each([
      [
        'launchables: {}\n',
        ManifestErrorCode.MISSING_ID,
        "invalid manifest: manifest must contain an 'id'",
      ],
      ['', ManifestErrorCode.MISSING_ID, "invalid manifest: manifest must contain an 'id'"],
      [
        'id: x\nlaunchables:\n  a:\n    launchable_type: hoist\n',
        ManifestErrorCode.MISSING_LOCATION,
        "invalid manifest: 'a': launchable must contain a 'location' or 'version'",
      ],
      [
        'id: x\nlaunchables:\n  a:\n    launchable_type: hoist\n    location: u\n    version: {id: v}\n',
        ManifestErrorCode.LOCATION_AND_VERSION,
        "invalid manifest: 'a': launchable must not contain both 'location' and 'version'",
      ],
      [
        'id: x\nlaunchables:\n  a:\n    location: u\n',
        ManifestErrorCode.MISSING_LAUNCHABLE_TYPE,
        "invalid manifest: 'a': launchable must contain a 'launchable_type'",
      ],
      [
        'id: x\nlaunchables:\n  a:\n    launchable_type: docker\n    image: {name: a/b/c}\n',
        ManifestErrorCode.DOCKER_MISSING_SHA256,
        "invalid manifest: 'a': docker launchables must contain a sha256",
      ],
    ])('%j', (text, code, message) => {
      expect(() => parseManifest(text)).toThrow(expect.objectContaining({ code, message }));
    });

    it('accepts launchable_type: bogus (fails later, when the pod is built)', () => {
      expect(
        parseManifest('id: x\nlaunchables:\n  a:\n    launchable_type: bogus\n').launchables.a
          ?.launchableType,
      ).toBe('bogus');
    });

    it.each([
      ['status_port: abc', 'status_port: expected an integer, found "abc"'],
      ['status_port: "8000"', 'status_port: expected an integer, found "8000"'],
      ['config: [1,2]', 'config: expected a mapping, found a sequence'],
    ])('%s is a decode error', (line, message) => {
      expect(() => parseManifest(`id: x\n${line}\n`)).toThrow(
        expect.objectContaining({
          code: ManifestErrorCode.WRONG_TYPE,
          message: expect.stringContaining(message),
        }),
      );
    });

    it('a bare scalar document is a decode error', () => {
      expect(() => parseManifest('just text\n')).toThrow(
        expect.objectContaining({ code: ManifestErrorCode.NOT_A_MAPPING }),
      );
    });
  });
});
