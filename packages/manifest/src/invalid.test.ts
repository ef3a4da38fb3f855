/**
 * A corpus of invalid manifests: each gets a coded ManifestError with a message naming what was
 * expected and what was found — never a crash (TypeError, RangeError, stack overflow).
 */
import { describe, expect, it } from 'vitest';
import { ManifestErrorCode as C, ManifestError, parseManifest } from './index.js';

const L = 'id: x\nlaunchables:\n  app:\n    launchable_type: hoist\n';
const bomb = [
  'a: &a ["x","x","x","x","x","x","x","x","x"]',
  ...Array.from({ length: 9 }, (_, i) => {
    const prev = String.fromCharCode(97 + i);
    const next = String.fromCharCode(98 + i);
    return `${next}: &${next} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`;
  }),
  'id: x',
].join('\n');

type Case = [
  name: string,
  input: string | Uint8Array,
  code: string,
  message: RegExp,
  strict?: boolean,
];

const cases: Case[] = [
  // Not YAML / not text
  [
    'unclosed flow sequence',
    'id: [x\n',
    C.YAML_SYNTAX,
    /^Could not read pod manifest: line \d+, column \d+/,
  ],
  [
    'bad indentation',
    'id: x\n  launchables: {}\n bad: 1\n',
    C.YAML_SYNTAX,
    /Could not read pod manifest/,
  ],
  ['unterminated quote', 'id: "x\n', C.YAML_SYNTAX, /Could not read pod manifest/],
  ['tab indentation', 'id: x\nconfig:\n\ta: 1\n', C.YAML_SYNTAX, /Could not read pod manifest/],
  [
    'undefined alias',
    'id: *nope\n',
    C.YAML_SYNTAX,
    /Could not read pod manifest: line 1, column 5: unknown anchor "nope"/,
  ],
  [
    'binary junk (invalid UTF-8)',
    new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x80, 0x81]),
    C.ENCODING,
    /not UTF-8 text/,
  ],
  ['NUL bytes', 'id: x\u0000\n', C.ENCODING, /control character U\+0000 at line 1, column 6/],
  [
    'escape character in text',
    'id: x\nconfig: {a: "\u001b[31m"}\n',
    C.ENCODING,
    /control character U\+001B at line 2/,
  ],
  [
    'gzip header',
    new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]),
    C.ENCODING,
    /not UTF-8 text/,
  ],
  [
    'ELF header (valid UTF-8, control bytes)',
    new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01]),
    C.ENCODING,
    /control character U\+007F at line 1, column 1/,
  ],
  [
    'oversized (over 512 KiB)',
    `id: x\nconfig:\n  blob: ${'a'.repeat(600 * 1024)}\n`,
    C.TOO_LARGE,
    /is 614\d+ bytes; at most 524288 bytes are accepted/,
  ],
  ['alias bomb', bomb, C.TOO_COMPLEX, /nests or expands too far/],
  [
    'deeply nested flow sequences',
    `id: x\nconfig:\n  a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
    C.TOO_COMPLEX,
    /nests too deeply|nests or expands too far/,
  ],
  [
    'deeply nested mappings',
    `id: x\nconfig:\n  a: ${'{a: '.repeat(100)}1${'}'.repeat(100)}\n`,
    C.TOO_COMPLEX,
    /^config\.a\.a\.a.{60,80}…: the YAML nests or expands too far/,
  ],
  ['self-referencing alias', 'a: &a [*a]\nid: x\n', C.TOO_COMPLEX, /nests or expands too far/],
  // Not a mapping
  [
    'bare scalar',
    'hello\n',
    C.NOT_A_MAPPING,
    /expected a mapping with id, launchables and config, found the scalar "hello"/,
  ],
  ['bare number', '42\n', C.NOT_A_MAPPING, /found the scalar 42/],
  ['sequence document', '- id: x\n', C.NOT_A_MAPPING, /found a sequence/],
  // Missing things (P2's rules, exact texts)
  ['empty document', '', C.MISSING_ID, /^invalid manifest: manifest must contain an 'id'$/],
  ['only comments', '# nothing here\n', C.MISSING_ID, /must contain an 'id'/],
  ['null id', 'id: ~\n', C.MISSING_ID, /must contain an 'id'/],
  [
    'launchable without type',
    'id: x\nlaunchables:\n  app: {location: u}\n',
    C.MISSING_LAUNCHABLE_TYPE,
    /^invalid manifest: 'app': launchable must contain a 'launchable_type'$/,
  ],
  [
    'null launchable',
    'id: x\nlaunchables:\n  app:\n',
    C.MISSING_LAUNCHABLE_TYPE,
    /'app': launchable must contain a 'launchable_type'/,
  ],
  [
    'hoist without location or version',
    L,
    C.MISSING_LOCATION,
    /'app': launchable must contain a 'location' or 'version'/,
  ],
  [
    'hoist with both',
    `${L}    location: u\n    version: {id: v}\n`,
    C.LOCATION_AND_VERSION,
    /must not contain both/,
  ],
  [
    'docker without image',
    'id: x\nlaunchables:\n  d: {launchable_type: docker}\n',
    C.DOCKER_MISSING_IMAGE,
    /'d': docker launchables must contain an image/,
  ],
  [
    'docker without sha256',
    'id: x\nlaunchables:\n  d: {launchable_type: docker, image: {name: a/b/c}}\n',
    C.DOCKER_MISSING_SHA256,
    /must contain a sha256/,
  ],
  // Wrong types
  [
    // A number is text in a Go string field (P2 read `location: 42` as "42"); a mapping is not.
    'location is a mapping',
    `${L}    location: {a: 1}\n`,
    C.WRONG_TYPE,
    /^launchables\.app\.location: expected a URI, found a mapping \(line 5, column \d+\)$/,
  ],
  [
    'status_port quoted',
    'id: x\nstatus_port: "8000"\n',
    C.WRONG_TYPE,
    /status_port: expected an integer, found "8000"/,
  ],
  [
    'status_port word',
    'id: x\nstatus_port: abc\n',
    C.WRONG_TYPE,
    /status_port: expected an integer, found "abc"/,
  ],
  [
    'status.port is a bool',
    'id: x\nstatus: {port: yes}\n',
    C.WRONG_TYPE,
    /status\.port: expected an integer, found true/,
  ],
  [
    'config is a sequence',
    'id: x\nconfig: [1, 2]\n',
    C.WRONG_TYPE,
    /config: expected a mapping, found a sequence/,
  ],
  [
    'config is a scalar',
    'id: x\nconfig: text\n',
    C.WRONG_TYPE,
    /config: expected a mapping, found "text"/,
  ],
  [
    'launchables is a list',
    'id: x\nlaunchables: [a, b]\n',
    C.WRONG_TYPE,
    /launchables: expected a mapping of launchable ids to launchable stanzas, found a sequence/,
  ],
  [
    'launchable is a string',
    'id: x\nlaunchables:\n  app: hoist\n',
    C.WRONG_TYPE,
    /launchables\.app: expected a launchable stanza \(a mapping\), found "hoist"/,
  ],
  ['id is a mapping', 'id: {a: 1}\n', C.WRONG_TYPE, /^id: expected a string, found a mapping/],
  [
    'env is a list',
    `${L}    location: u\n    env: [A=1]\n`,
    C.WRONG_TYPE,
    /launchables\.app\.env: expected a mapping of strings to strings, found a sequence/,
  ],
  [
    'env value is a mapping',
    `${L}    location: u\n    env: {A: {b: 1}}\n`,
    C.WRONG_TYPE,
    /launchables\.app\.env\.A: expected a string, found a mapping/,
  ],
  [
    'entry_points is a string',
    `${L}    location: u\n    entry_points: bin/launch\n`,
    C.WRONG_TYPE,
    /entry_points: expected a list of strings, found "bin\/launch"/,
  ],
  [
    'entry point is a mapping',
    `${L}    location: u\n    entry_points: [{a: b}]\n`,
    C.WRONG_TYPE,
    /launchables\.app\.entry_points\[0\]: expected a string, found a mapping/,
  ],
  [
    'readonly is a word',
    'id: x\nreadonly: maybe\n',
    C.WRONG_TYPE,
    /readonly: expected true or false, found "maybe"/,
  ],
  [
    'cpus is text',
    `${L}    location: u\n    cgroup: {cpus: two}\n`,
    C.WRONG_TYPE,
    /launchables\.app\.cgroup\.cpus: expected an integer, found "two"/,
  ],
  [
    'memory with a bad unit',
    `${L}    location: u\n    cgroup: {memory: 12 parsecs}\n`,
    C.INVALID_VALUE,
    /launchables\.app\.cgroup\.memory: expected a byte count/,
  ],
  [
    'memory with two dots',
    'id: x\nresource_limits: {cgroup: {memory: 1.2.3G}}\n',
    C.INVALID_VALUE,
    /resource_limits\.cgroup\.memory: expected a byte count such as 536870912 or 512M, found "1\.2\.3G"/,
  ],
  [
    'collection as a map key',
    'id: x\nconfig:\n  ? [a, b]\n  : c\n',
    C.WRONG_TYPE,
    /config: expected a scalar mapping key, found a sequence/,
  ],
  [
    'explicit !!int on text',
    'id: x\nconfig: {a: !!int abc}\n',
    C.INVALID_VALUE,
    /config\.a: expected a value of type !!int, found "abc"/,
  ],
  [
    'merge of a scalar',
    'id: x\nconfig:\n  <<: text\n',
    C.WRONG_TYPE,
    /a << merge key needs a mapping/,
  ],
  // Strict (writing) mode
  [
    'duplicate launchables (strict)',
    `${L}    location: u\n  app:\n    launchable_type: hoist\n    location: v\n`,
    C.LINT,
    /^launchables\.app: launchables\.app is given more than once/,
    true,
  ],
  ['pod id with a slash (strict)', 'id: a/b\n', C.LINT, /^id: pod id "a\/b" contains "\/"/, true],
  ['pod id with whitespace (strict)', 'id: "a b"\n', C.LINT, /contains whitespace/, true],
  [
    'UUID-shaped pod id (strict)',
    'id: 3f2504e0-4f89-11d3-9a0c-0305e82c3301\n',
    C.LINT,
    /looks like a UUID/,
    true,
  ],
  [
    'unknown restart_policy (strict)',
    `${L}    location: u\n    restart_policy: sometimes\n`,
    C.LINT,
    /restart_policy "sometimes" is not "always" or "never"/,
    true,
  ],
  [
    'unparseable restart_timeout (strict)',
    `${L}    location: u\n    restart_timeout: soon\n`,
    C.LINT,
    /restart_timeout "soon" is not a duration/,
    true,
  ],
  [
    'escaping entry point (strict)',
    `${L}    location: u\n    entry_points: [../../bin/sh]\n`,
    C.LINT,
    /must be a relative path inside the artifact/,
    true,
  ],
  [
    'unknown launchable_type (strict)',
    'id: x\nlaunchables:\n  a: {launchable_type: bogus}\n',
    C.LINT,
    /launchable_type "bogus" is not hoist/,
    true,
  ],
];

describe('invalid manifests', () => {
  it(`the corpus has at least 30 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('%s', (_name, input, code, message, strict) => {
    let thrown: unknown;
    try {
      parseManifest(input, { source: 'corpus.yaml', strict: strict ?? false });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ManifestError);
    const error = thrown as ManifestError;
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    // Structured data for programs; the source is named.
    expect(error.toJSON().code).toBe(code);
    if (code !== C.YAML_SYNTAX && code !== C.TOO_COMPLEX && code !== C.ENCODING) {
      expect(error.details.source ?? error.details.path).toBeDefined();
    }
  });

  it('names every wrong field in details.errors, the first one in the message', () => {
    try {
      parseManifest('id: x\nstatus_port: "1"\nreadonly: 3\n');
      expect.unreachable();
    } catch (error) {
      const e = error as ManifestError;
      expect(e.details.errors).toEqual([
        { path: 'status_port', expected: 'an integer', found: '"1"' },
        { path: 'readonly', expected: 'true or false', found: '3' },
      ]);
      expect(e.hint).toBe('2 fields are wrong; see details.errors');
    }
  });

  it('the same documents parse when read leniently (as P2 read them)', () => {
    for (const [name, input, , , strict] of cases) {
      if (strict) expect(() => parseManifest(input), name).not.toThrow();
    }
  });

  it('a larger limit can be chosen', () => {
    const big = `id: x\nconfig:\n  blob: ${'a'.repeat(600 * 1024)}\n`;
    expect(parseManifest(big, { maxBytes: 1024 * 1024 }).config.blob).toHaveLength(600 * 1024);
  });
});
