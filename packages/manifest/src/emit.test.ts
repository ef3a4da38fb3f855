import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml12 } from 'yaml';
import { emitYaml, formatFloat32, keyLess, sortEntries } from './emit.js';
import { fromPlain, type YNode } from './nodes.js';
import { readYaml, resolvePlainScalar } from './yaml11.js';

const emitOne = (value: unknown): string => emitYaml(fromPlain({ k: value }));
const s = (value: string): YNode => ({ kind: 'str', value });

describe('scalar quoting (yaml.v2 stringv + libyaml analyze_scalar)', () => {
  it.each([
    // Would re-read as a non-string: double-quoted.
    ['true', '"true"'],
    ['yes', '"yes"'],
    ['y', '"y"'],
    ['On', '"On"'],
    ['NO', '"NO"'],
    ['null', '"null"'],
    ['~', '"~"'],
    ['', '""'],
    ['123', '"123"'],
    ['0x1F', '"0x1F"'],
    ['0o17', '"0o17"'],
    ['08', '"08"'],
    ['1_000', '"1_000"'],
    ['1.5', '"1.5"'],
    ['1e3', '"1e3"'],
    ['+7', '"+7"'],
    ['.inf', '".inf"'],
    ['-.Inf', '"-.Inf"'],
    ['.NaN', '".NaN"'],
    ['+inf', '"+inf"'],
    ['1:30', '"1:30"'],
    ['-1:30:00.5', '"-1:30:00.5"'],
    // Strings that stay strings in YAML 1.1 as yaml.v2 read it: plain.
    ['2016-01-01', '2016-01-01'],
    ['nan', 'nan'],
    ['inf', 'inf'],
    ['1e400', '1e400'],
    ['<<', '<<'],
    ['-x', '-x'],
    ['?x', '?x'],
    [':x', ':x'],
    ['a,b', 'a,b'],
    ['a#b', 'a#b'],
    ["it's", "it's"],
    ['https://h:8443/p?q=1#f', 'https://h:8443/p?q=1#f'],
    ['héllo wörld', 'héllo wörld'],
    ['=', '='],
    // Indicators or blanks that YAML would misread: single-quoted.
    ['- x', "'- x'"],
    ['a: b', "'a: b'"],
    ['a #b', "'a #b'"],
    ['x:', "'x:'"],
    ['#x', "'#x'"],
    ['[x', "'[x'"],
    ['{x}', "'{x}'"],
    ['&a', "'&a'"],
    ['*a', "'*a'"],
    ['!tag', "'!tag'"],
    ['|x', "'|x'"],
    ['>x', "'>x'"],
    ['%x', "'%x'"],
    ['@x', "'@x'"],
    ['`x', "'`x'"],
    ['"x', `'"x'`],
    ["'quoted'", "'''quoted'''"],
    [' lead', "' lead'"],
    ['trail ', "'trail '"],
    ['---', "'---'"],
    ['...', "'...'"],
    // Characters that need escapes: double-quoted with escapes.
    ['tab\there', '"tab\\there"'],
    ['bell\u0007', '"bell\\a"'],
    ['del\u007f', '"del\\x7F"'],
    ['nel\u0085', '"nel\\N"'],
    ['emoji \u{1f600}', '"emoji \\U0001F600"'],
    ['bom\ufeff', '"bom\\uFEFF"'],
    ['cr\rx', '"cr\\rx"'],
  ])('%j is written as %s', (value, written) => {
    expect(emitOne(value)).toBe(`k: ${written}\n`);
  });

  it.each([
    ['a\nb', 'k: |-\n  a\n  b\n'],
    ['a\nb\n', 'k: |\n  a\n  b\n'],
    ['a\n\n', 'k: |+\n  a\n\n'],
    [' a\nb', 'k: |2-\n   a\n  b\n'],
    ['\na', 'k: |2-\n\n  a\n'],
    ['a\n\nb', 'k: |-\n  a\n\n  b\n'],
    // A space before a line break forbids block style: double-quoted with escapes.
    ['a \nb', 'k: "a \\nb"\n'],
    ['a\nb ', 'k: "a\\nb "\n'],
  ])('multi-line %j uses literal style when allowed', (value, written) => {
    expect(emitOne(value)).toBe(written);
  });

  it('literal blocks nest at the value indentation', () => {
    expect(emitYaml(fromPlain({ a: { b: 'x\ny\n' } }))).toBe('a:\n  b: |\n    x\n    y\n');
  });
});

describe('folding at 80 columns', () => {
  it('breaks at the first single space once past column 80, continuing one level deeper', () => {
    expect(emitOne(`${'x'.repeat(78)} y z`)).toBe(`k: ${'x'.repeat(78)}\n  y z\n`);
    // At column 80 exactly the space is kept; the next space (column 82) breaks.
    expect(emitOne(`${'x'.repeat(77)} y z`)).toBe(`k: ${'x'.repeat(77)} y\n  z\n`);
  });

  it('does not break at a run of spaces', () => {
    expect(emitOne(`${'x'.repeat(78)}  y`)).toBe(
      `k: '${'x'.repeat(78)}  y'\n`.replace("'", '').replace("'", ''),
    );
  });

  it('never breaks strings without spaces, nor keys', () => {
    const long = 'x'.repeat(200);
    expect(emitOne(long)).toBe(`k: ${long}\n`);
    const longKey = `${'k'.repeat(60)} ${'k'.repeat(60)}`;
    expect(emitYaml(fromPlain({ [longKey]: 'v' }))).toBe(`${longKey}: v\n`);
  });

  it('folds quoted styles too, and the result reads back as the same text', () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
    for (const value of [`${words}\t`, `'${words}`, words]) {
      const text = emitOne(value);
      expect(text.split('\n').length).toBeGreaterThan(2);
      for (const line of text.split('\n').slice(1, -1)) expect(line.startsWith('  ')).toBe(true);
      expect(parseYaml12(text)).toEqual({ k: value });
    }
  });

  it('keys longer than 128 bytes are written as complex keys', () => {
    const key = 'k'.repeat(129);
    expect(emitYaml(fromPlain({ [key]: 'v' }))).toBe(`? ${key}\n: v\n`);
  });
});

describe('collections', () => {
  it('writes sequences in mappings without indentation and mappings in sequences on the dash line', () => {
    expect(
      emitYaml(
        fromPlain({ list: ['a', ['b', 'c'], { k: 'v', j: 'w' }, [], {}], empty: {}, none: null }),
      ),
    ).toBe(
      [
        'empty: {}',
        'list:',
        '- a',
        '- - b',
        '  - c',
        '- j: w',
        '  k: v',
        '- []',
        '- {}',
        'none: null',
        '',
      ].join('\n'),
    );
  });

  it('writes an empty document as {}', () => {
    expect(emitYaml(fromPlain({}))).toBe('{}\n');
  });
});

describe('map key order (yaml.v2 keyList.Less)', () => {
  const order = (keys: YNode[]): string[] =>
    sortEntries(keys.map((k) => [k, k] as const)).map(([k]) => emitYaml(k).trim());

  it('puts numbers and booleans first (numerically), then null, then strings', () => {
    const keys: YNode[] = [
      s('b'),
      { kind: 'null' },
      { kind: 'int', value: 2n },
      { kind: 'bool', value: true },
      { kind: 'float', value: 1.5 },
      { kind: 'int', value: 1n },
      { kind: 'bool', value: false },
      { kind: 'int', value: -3n },
      s('1'),
    ];
    expect(order(keys)).toEqual(['-3', 'false', 'true', '1', '1.5', '2', 'null', '"1"', 'b']);
  });

  it('compares strings rune by rune: upper before lower, non-letters before letters, digit runs as numbers', () => {
    expect(
      order(['b10', 'b9', 'a_b', 'ab', 'B', 'a', 'A', '_', '-', 'a1', 'a01', 'z', 'é', ''].map(s)),
    ).toEqual([
      '""',
      "'-'",
      '_',
      'A',
      'B',
      'a',
      'a_b', // '_' vs '1': no letters; digit runs 0 < 1
      'a1',
      'a01', // same number, longer run last
      'ab',
      'b9',
      'b10',
      'z',
      'é',
    ]);
  });

  it('is deterministic for the key sets where yaml.v2 was not (documented order)', () => {
    const keys = ['9', '10', '1a'];
    const expected = order(keys.map(s));
    for (const permutation of [keys, [...keys].reverse(), ['1a', '9', '10'], ['10', '9', '1a']]) {
      expect(order(permutation.map(s))).toEqual(expected);
    }
    expect(expected).toEqual(['"10"', '1a', '"9"']);
    const big = ['k9223372036854775807', 'k9223372036854775808', 'k1'];
    expect(order(big.map(s))).toEqual(order([...big].reverse().map(s)));
  });

  it('agrees with itself (antisymmetric) on random strings without the known inconsistencies', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), (a, b) => {
        if (a === b) return;
        expect(keyLess(s(a), s(b)) && keyLess(s(b), s(a))).toBe(false);
      }),
    );
  });
});

describe('float32 shortest formatting (FormatFloat(x, g, -1, 32))', () => {
  it.each([
    [0.123456789, '0.12345679'],
    [1234567, '1.234567e+06'],
    [1, '1'],
    [-0, '-0'],
    [2.5e-7, '2.5e-07'],
    [1e6, '1e+06'],
    [100000, '100000'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [3.14, '3.14'],
    [1.5, '1.5'],
    [16777217, '1.6777216e+07'],
    [1e39, '.inf'],
    [-1e39, '-.inf'],
    [Number.POSITIVE_INFINITY, '.inf'],
    [Number.NaN, '.nan'],
    [1e-50, '0'],
  ])('%d → %s', (value, text) => {
    expect(formatFloat32(value)).toBe(text);
  });

  it('reads back as the same float32 (property)', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
        const text = formatFloat32(f);
        expect(Math.fround(Number(text))).toBe(Math.fround(f));
      }),
    );
  });

  it('floats in documents are emitted as float32 (lossy, as P2)', () => {
    const { root } = readYaml('a: 0.123456789\nb: 1.0\nc: 1e3\nd: .5\n');
    expect(emitYaml(root)).toBe('a: 0.12345679\nb: 1\nc: 1000\nd: 0.5\n');
  });
});

describe('YAML 1.1 plain scalar resolution (yaml.v2 resolve)', () => {
  it.each([
    ['yes', { kind: 'bool', value: true }],
    ['Off', { kind: 'bool', value: false }],
    ['y', { kind: 'bool', value: true }],
    ['n', { kind: 'bool', value: false }],
    ['010', { kind: 'int', value: 8n }],
    ['0x1F', { kind: 'int', value: 31n }],
    ['0b101', { kind: 'int', value: 5n }],
    ['-0b101', { kind: 'int', value: -5n }],
    ['0o17', { kind: 'int', value: 15n }],
    ['+7', { kind: 'int', value: 7n }],
    ['1_000', { kind: 'int', value: 1000n }],
    ['9223372036854775807', { kind: 'int', value: 9223372036854775807n }],
    ['9223372036854775808', { kind: 'int', value: 9223372036854775808n, unsigned: true }],
    ['18446744073709551616', { kind: 'float', value: 2 ** 64 }],
    ['-9223372036854775809', { kind: 'float', value: -(2 ** 63) }],
    ['08', { kind: 'float', value: 8 }],
    ['1.50', { kind: 'float', value: 1.5 }],
    ['.5', { kind: 'float', value: 0.5 }],
    ['1e3', { kind: 'float', value: 1000 }],
    ['0x1p-2', { kind: 'float', value: 0.25 }],
    ['+.inf', { kind: 'float', value: Number.POSITIVE_INFINITY }],
    ['-Infinity', { kind: 'float', value: Number.NEGATIVE_INFINITY }],
    ['~', { kind: 'null' }],
    ['', { kind: 'null' }],
    ['Null', { kind: 'null' }],
    ['2016-01-01', { kind: 'str', value: '2016-01-01' }],
    ['1:30', { kind: 'str', value: '1:30' }],
    ['1e400', { kind: 'str', value: '1e400' }],
    ['nan', { kind: 'str', value: 'nan' }],
    ['yES', { kind: 'str', value: 'yES' }],
    ['0x', { kind: 'str', value: '0x' }],
    ['<<', { kind: 'str', value: '<<' }],
  ])('%j', (text, node) => {
    expect(resolvePlainScalar(text)).toEqual(node);
  });

  it('does not resolve quoted scalars, and honours explicit tags', () => {
    const { root } = readYaml('a: "yes"\nb: !!str 10\nc: !!int "10"\nd: !!float 1\ne: !custom 5\n');
    expect(emitYaml(root)).toBe('a: "yes"\nb: "10"\nc: 10\nd: 1\ne: "5"\n');
  });

  it('duplicate keys: last one wins (and is remembered for the linter)', () => {
    const { root, diagnostics } = readYaml('a: 1\nb: 2\na: 3\n');
    expect(emitYaml(root)).toBe('a: 3\nb: 2\n');
    expect(diagnostics.duplicateKeys).toEqual(['a']);
  });

  it('expands aliases and << merge keys (explicit keys after a merge win)', () => {
    const { root } = readYaml('base: &b {x: 1, z: 2}\nother:\n  <<: *b\n  z: 3\nlist: [*b]\n');
    expect(emitYaml(root)).toBe(
      'base:\n  x: 1\n  z: 2\nlist:\n- x: 1\n  z: 2\nother:\n  x: 1\n  z: 3\n',
    );
    // YAML 1.1: a plain `y` key is the boolean true, as yaml.v2 read it.
    expect(emitYaml(readYaml('y: 1\nn: 2\n').root)).toBe('false: 2\ntrue: 1\n');
  });
});

describe('round trip (property): emit then read gives the same tree', () => {
  const scalar = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 30 }),
    fc.string({ maxLength: 120 }),
    fc.constantFrom(
      'yes',
      'no',
      '1:30',
      '0x10',
      '',
      ' a',
      'a\nb',
      'a\n\n',
      '- x',
      '#',
      'null',
      '~',
      "'",
      '"',
    ),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc
      .float({ noNaN: true })
      .map((f) => Math.fround(f))
      .filter((f) => !Number.isInteger(f)),
  );
  const tree = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, scalar, tie('list'), tie('dict')),
    list: fc.array(tie('node'), { maxLength: 4 }),
    dict: fc.dictionary(fc.string({ maxLength: 12 }), tie('node'), { maxKeys: 5 }),
  }));

  it('for any config-like value', () => {
    fc.assert(
      fc.property(tree.dict, (value) => {
        const node = fromPlain(value);
        const text = emitYaml(node);
        const { root } = readYaml(text);
        expect(emitYaml(root)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});
