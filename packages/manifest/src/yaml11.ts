/**
 * YAML reading as yaml.v2 (2016) did it: YAML 1.1 plain-scalar resolution (`yes`/`on`/`y` are
 * booleans, `010` is octal, no timestamps, no sexagesimal numbers), duplicate keys last-wins,
 * `<<` merge keys, aliases expanded. The `yaml` package does the syntax; this module does the typing.
 * @internal
 */
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Node as YamlNode,
} from 'yaml';
import { ManifestError, ManifestErrorCode } from './errors.js';
import { NULL, scalarText, type YNode } from './nodes.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

const BOOL_NULL_WORDS = new Map<string, YNode>();
for (const w of ['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']) {
  BOOL_NULL_WORDS.set(w, { kind: 'bool', value: true });
}
for (const w of ['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']) {
  BOOL_NULL_WORDS.set(w, { kind: 'bool', value: false });
}
for (const w of ['', '~', 'null', 'Null', 'NULL']) BOOL_NULL_WORDS.set(w, NULL);
for (const w of ['.nan', '.NaN', '.NAN'])
  BOOL_NULL_WORDS.set(w, { kind: 'float', value: Number.NaN });
for (const w of ['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF']) {
  BOOL_NULL_WORDS.set(w, { kind: 'float', value: Number.POSITIVE_INFINITY });
}
for (const w of ['-.inf', '-.Inf', '-.INF'])
  BOOL_NULL_WORDS.set(w, { kind: 'float', value: Number.NEGATIVE_INFINITY });

/** Go's `strconv.ParseInt(s, 0, 64)` syntax without the range check: the exact value, or undefined. */
function goParseIntSyntax(s: string): bigint | undefined {
  let rest = s;
  let negative = false;
  if (rest.startsWith('+') || rest.startsWith('-')) {
    negative = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '') return undefined;
  let digits = rest;
  let radix = 10;
  if (rest[0] === '0') {
    const second = rest[1]?.toLowerCase();
    if (rest.length >= 3 && second === 'b') [radix, digits] = [2, rest.slice(2)];
    else if (rest.length >= 3 && second === 'o') [radix, digits] = [8, rest.slice(2)];
    else if (rest.length >= 3 && second === 'x') [radix, digits] = [16, rest.slice(2)];
    else [radix, digits] = [8, rest.slice(1)];
  }
  const valid = { 2: /^[01]*$/, 8: /^[0-7]*$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[
    radix as 2 | 8 | 10 | 16
  ];
  if (!valid.test(digits)) return undefined;
  if (digits === '') return 0n;
  const prefix = { 2: '0b', 8: '0o', 10: '', 16: '0x' }[radix as 2 | 8 | 10 | 16];
  const value = BigInt(prefix + digits);
  return negative ? -value : value;
}

const DECIMAL_FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const HEX_FLOAT = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/;
const SPECIAL_FLOAT = /^(?:([+-]?)(?:inf|infinity)|nan)$/i;

/** Go's `strconv.ParseFloat(s, 64)`: the value, or undefined on a syntax or range error. */
export function goParseFloat(s: string): number | undefined {
  const special = SPECIAL_FLOAT.exec(s);
  if (special) {
    if (/nan/i.test(s)) return Number.NaN;
    return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  let value: number;
  if (DECIMAL_FLOAT.test(s)) value = Number(s);
  else {
    const hex = HEX_FLOAT.exec(s);
    if (!hex) return undefined;
    const [, sign, whole = '', fraction = '', exponent = '0'] = hex;
    if (whole === '' && fraction === '') return undefined;
    const mantissa = Number.parseInt(whole + fraction || '0', 16);
    value = mantissa * 2 ** (Number(exponent) - 4 * fraction.length);
    if (sign === '-') value = -value;
  }
  // Go reports a range error (and yaml.v2 then keeps the text as a string) on overflow.
  return Number.isFinite(value) ? value : undefined;
}

/** yaml.v2's `resolve("", text)` for a plain, untagged scalar. */
export function resolvePlainScalar(text: string): YNode {
  const first = text[0];
  const hint =
    text === ''
      ? 'N'
      : first === '+' || first === '-'
        ? 'S'
        : first !== undefined && first >= '0' && first <= '9'
          ? 'D'
          : first !== undefined && 'yYnNtTfFoO~'.includes(first)
            ? 'M'
            : first === '.'
              ? '.'
              : '';
  if (hint === '') return { kind: 'str', value: text };
  const word = BOOL_NULL_WORDS.get(text);
  if (word) return word;
  if (hint === '.') {
    const f = goParseFloat(text);
    if (f !== undefined) return { kind: 'float', value: f };
  } else if (hint === 'D' || hint === 'S') {
    const plain = text.replaceAll('_', '');
    const i = goParseIntSyntax(plain);
    if (i !== undefined && i >= INT64_MIN && i <= INT64_MAX) return { kind: 'int', value: i };
    if (i !== undefined && i >= 0n && i <= UINT64_MAX && !/^[+-]/.test(plain)) {
      return { kind: 'int', value: i, unsigned: true };
    }
    const f = goParseFloat(plain);
    if (f !== undefined) return { kind: 'float', value: f };
  }
  return { kind: 'str', value: text };
}

const TAG_PREFIX = 'tag:yaml.org,2002:';

/** yaml.v2's `resolve(tag, text)` for an explicitly tagged scalar. */
function resolveTagged(tag: string, text: string, path: string): YNode {
  const short = tag.startsWith(TAG_PREFIX) ? `!!${tag.slice(TAG_PREFIX.length)}` : tag;
  if (short === '!!str' || short === '!!binary') return { kind: 'str', value: text };
  if (!['!!bool', '!!int', '!!float', '!!null', '!!merge'].includes(short)) {
    // Unknown tags: yaml.v2 keeps the text as a string.
    return { kind: 'str', value: text };
  }
  const resolved = resolvePlainScalar(text);
  const kind = resolved.kind === 'null' ? '!!null' : `!!${resolved.kind}`;
  if (short === '!!float' && resolved.kind === 'int')
    return { kind: 'float', value: Number(resolved.value) };
  if (kind !== short) {
    throw new ManifestError(
      ManifestErrorCode.INVALID_VALUE,
      `${path}: expected a value of type ${short}, found ${JSON.stringify(text)}`,
      { details: { path, expected: short, found: text } },
    );
  }
  return resolved;
}

/** What the reader noticed while reading leniently; the strict linter reports it. */
export interface ReadDiagnostics {
  /** Paths of mapping keys that appeared more than once (the last one won). */
  duplicateKeys: string[];
  /** 0-based offsets in the text of values by dotted path (for line numbers in messages). */
  offsets: Map<string, number>;
  /** Number of YAML documents in the stream (only the first is read, as yaml.v2 did). */
  documents: number;
  lineCounter: LineCounter;
  /**
   * Keys that yaml.v2's typed decoding merged into one although they were written differently
   * (`Y` and `y` in `config`, `1` and `"1"` in `env`): the last one won, as in P2. Filled by the
   * model decoder.
   */
  keyCollisions: KeyCollision[];
  /** The typed tree as read, before decoding into fields (for the YAML 1.1 ambiguity lint). */
  root?: YNode;
}

/** Mapping keys written differently that P2's typed decoding made the same key. */
export interface KeyCollision {
  /** Dotted path of the surviving key. */
  path: string;
  /** The keys as written, in document order (strings quoted), e.g. `['Y', 'y']`. */
  keys: string[];
}

/** Limits that keep hostile input (alias bombs, deep nesting) from exhausting memory or stack. */
const MAX_DEPTH = 64;
const MAX_NODES = 200_000;

/** Formats a key for use in a dotted path. */
export function pathJoin(parent: string, key: string): string {
  const segment = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return parent === '' ? segment : `${parent}.${segment}`;
}

/** Identity of a key as yaml.v2 compared `interface{}` map keys: by resolved type and value. */
export function keyIdentity(node: YNode): string {
  switch (node.kind) {
    case 'int':
      return `int:${node.value}`;
    case 'float':
      // Go compares float64 map keys with ==, so -0 and 0 are one key.
      return `float:${String(node.value)}`;
    case 'str':
      return `str:${node.value}`;
    case 'bool':
      return `bool:${node.value}`;
    case 'null':
      return 'null';
    default:
      return `other:${JSON.stringify(node)}`;
  }
}

/**
 * Reads YAML text into a typed tree. Throws `P2_MANIFEST_YAML_SYNTAX` for syntax errors and
 * `P2_MANIFEST_TOO_COMPLEX` for alias bombs.
 */
export function readYaml(
  text: string,
  source?: string,
): { root: YNode; diagnostics: ReadDiagnostics } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    schema: 'failsafe',
    uniqueKeys: false,
    lineCounter,
    prettyErrors: false,
    strict: false,
  });
  const list = Array.isArray(docs) ? docs : [docs];
  const diagnostics: ReadDiagnostics = {
    duplicateKeys: [],
    offsets: new Map(),
    documents: list.length,
    lineCounter,
    keyCollisions: [],
  };
  const doc = list[0] as Document.Parsed | undefined;
  if (doc === undefined) return { root: NULL, diagnostics };
  const syntax = doc.errors[0];
  if (syntax && /call stack/i.test(syntax.message)) {
    throw new ManifestError(
      ManifestErrorCode.TOO_COMPLEX,
      `the YAML nests too deeply to be read (more than ${MAX_DEPTH} levels are not accepted)`,
      {
        hint: 'flatten the config; deeply nested data belongs in a file in the artifact',
        cause: syntax,
        details: source ? { source } : {},
      },
    );
  }
  if (syntax) {
    const pos = lineCounter.linePos(syntax.pos[0]);
    throw new ManifestError(
      ManifestErrorCode.YAML_SYNTAX,
      `Could not read pod manifest: line ${pos.line}, column ${pos.col}: ${syntax.message.split('\n')[0]}`,
      {
        hint: 'fix the YAML syntax; `p2 manifest check FILE` shows the first problem',
        cause: syntax,
        details: { line: pos.line, column: pos.col, ...(source ? { source } : {}) },
      },
    );
  }
  let nodes = 0;
  const convert = (node: unknown, path: string, depth: number): YNode => {
    if (++nodes > MAX_NODES || depth > MAX_DEPTH) {
      throw new ManifestError(
        ManifestErrorCode.TOO_COMPLEX,
        `${shortPath(path) || 'document'}: the YAML nests or expands too far (more than ${MAX_DEPTH} levels or ${MAX_NODES} nodes after expanding aliases)`,
        {
          hint: 'write the manifest without self-referencing or exponentially nested aliases',
          details: { path },
        },
      );
    }
    if (node === null || node === undefined) return NULL;
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (target === undefined) {
        const pos = lineCounter.linePos(node.range?.[0] ?? 0);
        throw new ManifestError(
          ManifestErrorCode.YAML_SYNTAX,
          `Could not read pod manifest: line ${pos.line}, column ${pos.col}: unknown anchor ${JSON.stringify(node.source)} referenced`,
          { details: { line: pos.line, column: pos.col, ...(source ? { source } : {}) } },
        );
      }
      return convert(target, path, depth + 1);
    }
    if (isScalar(node)) {
      const raw = node.value;
      const text = raw === null || raw === undefined ? '' : String(raw);
      if (node.range && depth <= 6 && path !== '') diagnostics.offsets.set(path, node.range[0]);
      if (node.tag) return resolveTagged(node.tag, text, path || 'document');
      if (node.type === 'PLAIN' || node.type === undefined) {
        const resolved = resolvePlainScalar(text);
        return resolved.kind === 'null' ||
          resolved.kind === 'bool' ||
          resolved.kind === 'int' ||
          resolved.kind === 'float'
          ? { ...resolved, text }
          : resolved;
      }
      return { kind: 'str', value: text };
    }
    if (isSeq(node)) {
      if ((node as YamlNode).range && depth <= 6 && path !== '')
        diagnostics.offsets.set(path, (node as YamlNode).range?.[0] ?? 0);
      return {
        kind: 'seq',
        items: node.items.map((item, i) => convert(item, `${path}[${i}]`, depth + 1)),
      };
    }
    if (isMap(node)) {
      if ((node as YamlNode).range && depth <= 6 && path !== '')
        diagnostics.offsets.set(path, (node as YamlNode).range?.[0] ?? 0);
      const entries = new Map<string, readonly [YNode, YNode]>();
      // Only keys written identically (same resolved type and same text) are merged here; whether
      // `Y` and `y`, or `1` and `"1"`, are one key depends on the Go type decoded into (model.ts).
      const put = (key: YNode, value: YNode, keyPath: string, explicit: boolean): void => {
        const id = `${key.kind}:${scalarText(key)}`;
        if (entries.has(id)) {
          entries.delete(id);
          if (explicit) diagnostics.duplicateKeys.push(keyPath);
        }
        entries.set(id, [key, value]);
      };
      for (const pair of node.items) {
        const keyNode = pair.key as unknown;
        const isMergeKey =
          isScalar(keyNode) &&
          keyNode.value === '<<' &&
          (keyNode.type === 'PLAIN' || keyNode.tag === `${TAG_PREFIX}merge`);
        if (isMergeKey) {
          const value = convert(pair.value, path, depth + 1);
          const sources = value.kind === 'seq' ? [...value.items].reverse() : [value];
          for (const sourceMap of sources) {
            if (sourceMap.kind !== 'map') {
              throw new ManifestError(
                ManifestErrorCode.WRONG_TYPE,
                `${path || 'document'}: a << merge key needs a mapping or a list of mappings, found a ${sourceMap.kind}`,
                { details: { path, expected: 'mapping', found: sourceMap.kind } },
              );
            }
            for (const [k, v] of sourceMap.entries) put(k, v, path, false);
          }
          continue;
        }
        const key = convert(keyNode, path, depth + 1);
        if (key.kind === 'map' || key.kind === 'seq') {
          throw new ManifestError(
            ManifestErrorCode.WRONG_TYPE,
            `${path || 'document'}: expected a scalar mapping key, found a ${key.kind === 'map' ? 'mapping' : 'sequence'}`,
            { details: { path, expected: 'scalar key', found: key.kind } },
          );
        }
        const keyName = scalarText(key) ?? '';
        const childPath = pathJoin(path, keyName);
        put(key, convert(pair.value, childPath, depth + 1), childPath, true);
      }
      return { kind: 'map', entries: [...entries.values()] };
    }
    return { kind: 'str', value: String(node) };
  };
  const root = convert(doc.contents, '', 0);
  diagnostics.root = root;
  return { root, diagnostics };
}

/** A path short enough for a one-line message. */
function shortPath(path: string): string {
  return path.length <= 80 ? path : `${path.slice(0, 77)}…`;
}
