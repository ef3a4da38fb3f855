/**
 * A canonical YAML emitter that writes exactly what yaml.v2 (2016 snapshot `a5b47d31`, a Go port of
 * libyaml's emitter) wrote for a decoded value: block style, 2-space indent, sequences in mappings
 * not indented, sorted map keys (yaml.v2's `keyList.Less`), YAML 1.1-aware quoting, float32
 * shortest floats and folding of long scalars past column 80. See spec 01 §1.8.2.
 * @internal
 */
import type { YNode } from './nodes.js';
import { resolvePlainScalar } from './yaml11.js';

const BEST_WIDTH = 80;
const BEST_INDENT = 2;

// ---------------------------------------------------------------------------------------------
// Key order

/** Go reflect.Kind numbers that decide the order of keys of different kinds. */
const KIND_ORDER = {
  bool: 1,
  int: 2,
  uint: 11,
  float: 14,
  null: 20,
  str: 24,
  map: 21,
  seq: 23,
} as const;

function kindOf(node: YNode): number {
  if (node.kind === 'int') return node.unsigned ? KIND_ORDER.uint : KIND_ORDER.int;
  return KIND_ORDER[node.kind];
}

function keyFloat(node: YNode): number | undefined {
  if (node.kind === 'int') return Number(node.value);
  if (node.kind === 'float') return node.value;
  if (node.kind === 'bool') return node.value ? 1 : 0;
  return undefined;
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/**
 * yaml.v2's `keyList.Less`: numbers and booleans first (numerically), then by Go kind, then strings
 * with letters vs non-letters vs digit runs (`a_b` < `ab`, `b9` < `b10`, `B` < `a`).
 */
export function keyLess(a: YNode, b: YNode): boolean {
  const af = keyFloat(a);
  const bf = keyFloat(b);
  const ak = kindOf(a);
  const bk = kindOf(b);
  if (af !== undefined && bf !== undefined) {
    if (af !== bf) return af < bf;
    if (ak !== bk) return ak < bk;
    if (a.kind === 'int' && b.kind === 'int') return a.value < b.value;
    if (a.kind === 'float' && b.kind === 'float') return a.value < b.value;
    if (a.kind === 'bool' && b.kind === 'bool') return !a.value && b.value;
    return false;
  }
  if (a.kind !== 'str' || b.kind !== 'str') return ak < bk;
  const ar = Array.from(a.value);
  const br = Array.from(b.value);
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const ac = ar[i] as string;
    const bc = br[i] as string;
    if (ac === bc) continue;
    const al = LETTER.test(ac);
    const bl = LETTER.test(bc);
    if (al && bl) return (ac.codePointAt(0) ?? 0) < (bc.codePointAt(0) ?? 0);
    if (al || bl) return bl;
    // Digit runs compared as int64 with Go's wrap-around on overflow.
    let an = 0n;
    let bn = 0n;
    let ai = i;
    let bi = i;
    for (; ai < ar.length && DIGIT.test(ar[ai] as string); ai++) {
      an = BigInt.asIntN(64, an * 10n + BigInt((ar[ai]?.codePointAt(0) ?? 48) - 48));
    }
    for (; bi < br.length && DIGIT.test(br[bi] as string); bi++) {
      bn = BigInt.asIntN(64, bn * 10n + BigInt((br[bi]?.codePointAt(0) ?? 48) - 48));
    }
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return (ac.codePointAt(0) ?? 0) < (bc.codePointAt(0) ?? 0);
  }
  return ar.length < br.length;
}

function codePointCompare(a: string, b: string): number {
  const ar = Array.from(a);
  const br = Array.from(b);
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const d = (ar[i]?.codePointAt(0) ?? 0) - (br[i]?.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return ar.length - br.length;
}

/**
 * Sorts map entries as yaml.v2 did. For the few key sets where yaml.v2's comparison is not a
 * consistent order (`"9"`, `"10"`, `"1a"` together; digit runs overflowing int64) its output
 * depended on Go's random map order. We make the result deterministic: entries are first put in
 * plain code-point order (kind, then text), then sorted with a stable merge sort using yaml.v2's
 * comparison. For every consistent key set this equals yaml.v2's order.
 */
export function sortEntries<T extends readonly [YNode, YNode]>(entries: readonly T[]): T[] {
  const pre = [...entries].sort((x, y) => {
    const kx = kindOf(x[0]);
    const ky = kindOf(y[0]);
    if (kx !== ky) return kx - ky;
    return codePointCompare(scalarKeyText(x[0]), scalarKeyText(y[0]));
  });
  return mergeSort(pre, (x, y) => keyLess(x[0], y[0]));
}

function scalarKeyText(node: YNode): string {
  switch (node.kind) {
    case 'str':
      return node.value;
    case 'int':
      return node.value.toString();
    case 'float':
    case 'bool':
      return String(node.value);
    default:
      return '';
  }
}

function mergeSort<T>(items: T[], less: (a: T, b: T) => boolean): T[] {
  if (items.length <= 1) return items;
  const mid = items.length >> 1;
  const left = mergeSort(items.slice(0, mid), less);
  const right = mergeSort(items.slice(mid), less);
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    // Take from the right only when it is strictly less: stable.
    if (less(right[j] as T, left[i] as T)) out.push(right[j++] as T);
    else out.push(left[i++] as T);
  }
  while (i < left.length) out.push(left[i++] as T);
  while (j < right.length) out.push(right[j++] as T);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scalar formatting

/** Go's `strconv.FormatFloat(x, 'g', -1, 32)` plus yaml.v2's `.inf`/`.nan` spellings. */
export function formatFloat32(value: number): string {
  if (Number.isNaN(value)) return '.nan';
  const f = Math.fround(value);
  if (f === Number.POSITIVE_INFINITY) return '.inf';
  if (f === Number.NEGATIVE_INFINITY) return '-.inf';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  let exp = 0;
  let digits = '';
  for (let precision = 1; precision <= 9; precision++) {
    const candidate = Math.abs(f).toExponential(precision - 1);
    if (Math.fround(Number(candidate)) === Math.abs(f)) {
      const [mantissa = '', e = '0'] = candidate.split('e');
      digits = mantissa.replace('.', '');
      exp = Number(e);
      break;
    }
  }
  digits = digits.replace(/0+$/, '') || '0';
  const sign = f < 0 ? '-' : '';
  if (exp < -4 || exp >= 6) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expAbs = Math.abs(exp);
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${expAbs < 10 ? '0' : ''}${expAbs}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${'0'.repeat(exp + 1 - digits.length)}`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;

type Style = 'plain' | 'single' | 'double' | 'literal';

function isPrintable(cp: number): boolean {
  return (
    cp === 0x0a ||
    (cp >= 0x20 && cp <= 0x7e) ||
    (cp >= 0xa0 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff)
  );
}
const isBreakCp = (cp: number | undefined): boolean =>
  cp === 0x0a || cp === 0x0d || cp === 0x85 || cp === 0x2028 || cp === 0x2029;
const isBlankzCp = (cp: number | undefined): boolean =>
  cp === undefined || cp === 0x20 || cp === 0x09 || isBreakCp(cp) || cp === 0;

interface ScalarAnalysis {
  multiline: boolean;
  blockPlainAllowed: boolean;
  singleQuotedAllowed: boolean;
  blockAllowed: boolean;
}

/** libyaml's `yaml_emitter_analyze_scalar` (block context only: we never emit flow collections). */
function analyzeScalar(cps: number[]): ScalarAnalysis {
  if (cps.length === 0) {
    return {
      multiline: false,
      blockPlainAllowed: true,
      singleQuotedAllowed: true,
      blockAllowed: false,
    };
  }
  let blockIndicators = false;
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  let precededByWhitespace = true;
  const starts3 = cps.length >= 3 ? String.fromCodePoint(...cps.slice(0, 3)) : '';
  if (starts3 === '---' || starts3 === '...') blockIndicators = true;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as number;
    const followedByWhitespace = isBlankzCp(cps[i + 1]);
    const ch = String.fromCodePoint(c);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) blockIndicators = true;
      else if ((ch === '?' || ch === ':') && followedByWhitespace) blockIndicators = true;
      else if (ch === '-' && followedByWhitespace) blockIndicators = true;
    } else if (ch === ':' && followedByWhitespace) blockIndicators = true;
    else if (ch === '#' && precededByWhitespace) blockIndicators = true;
    if (!isPrintable(c)) special = true;
    if (c === 0x20) {
      if (i === 0) leadingSpace = true;
      if (i === cps.length - 1) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreakCp(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i === cps.length - 1) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = isBlankzCp(c);
  }
  const result = {
    multiline: lineBreaks,
    blockPlainAllowed: true,
    singleQuotedAllowed: true,
    blockAllowed: true,
  };
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak)
    result.blockPlainAllowed = false;
  if (trailingSpace) result.blockAllowed = false;
  if (breakSpace) {
    result.blockPlainAllowed = false;
    result.singleQuotedAllowed = false;
  }
  if (spaceBreak || special) {
    result.blockPlainAllowed = false;
    result.singleQuotedAllowed = false;
    result.blockAllowed = false;
  }
  if (lineBreaks) result.blockPlainAllowed = false;
  if (blockIndicators) result.blockPlainAllowed = false;
  return result;
}

// ---------------------------------------------------------------------------------------------
// The writer (a small model of libyaml's emitter state: column, indention, whitespace)

class Writer {
  out = '';
  column = 0;
  whitespace = true;
  indention = true;

  put(text: string): void {
    this.out += text;
    this.column += Array.from(text).length;
  }
  putBreak(): void {
    this.out += '\n';
    this.column = 0;
  }
  writeIndent(indent: number): void {
    const target = Math.max(indent, 0);
    if (!this.indention || this.column > target || (this.column === target && !this.whitespace))
      this.putBreak();
    while (this.column < target) this.put(' ');
    this.whitespace = true;
    this.indention = true;
  }
  indicator(
    text: string,
    needWhitespace: boolean,
    isWhitespace: boolean,
    isIndention: boolean,
  ): void {
    if (needWhitespace && !this.whitespace) this.put(' ');
    this.put(text);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }
}

/** How yaml.v2 asks for a scalar: its text and the requested style (before libyaml's checks). */
function scalarRequest(node: YNode): { text: string; style: Style } {
  switch (node.kind) {
    case 'null':
      return { text: 'null', style: 'plain' };
    case 'bool':
      return { text: String(node.value), style: 'plain' };
    case 'int':
      return { text: node.value.toString(), style: 'plain' };
    case 'float':
      return { text: formatFloat32(node.value), style: 'plain' };
    case 'str': {
      const s = node.value;
      if (resolvePlainScalar(s).kind !== 'str' || BASE60_FLOAT.test(s))
        return { text: s, style: 'double' };
      if (s.includes('\n')) return { text: s, style: 'literal' };
      return { text: s, style: 'plain' };
    }
    default:
      throw new Error('not a scalar');
  }
}

function selectStyle(
  requested: Style,
  a: ScalarAnalysis,
  simpleKey: boolean,
  empty: boolean,
): Style {
  let style = requested;
  if (simpleKey && a.multiline) style = 'double';
  if (style === 'plain') {
    if (!a.blockPlainAllowed) style = 'single';
    if (empty && simpleKey) style = 'single';
  }
  if (style === 'single' && !a.singleQuotedAllowed) style = 'double';
  if (style === 'literal' && (!a.blockAllowed || simpleKey)) style = 'double';
  return style;
}

function writeScalar(w: Writer, node: YNode, indent: number, simpleKey: boolean): void {
  const { text, style: requested } = scalarRequest(node);
  const cps = Array.from(text, (c) => c.codePointAt(0) as number);
  const style = selectStyle(requested, analyzeScalar(cps), simpleKey, cps.length === 0);
  const allowBreaks = !simpleKey;
  switch (style) {
    case 'plain':
      writePlain(w, cps, indent, allowBreaks);
      break;
    case 'single':
      writeSingle(w, cps, indent, allowBreaks);
      break;
    case 'double':
      writeDouble(w, cps, indent, allowBreaks);
      break;
    case 'literal':
      writeLiteral(w, cps, indent);
      break;
  }
}

function writePlain(w: Writer, cps: number[], indent: number, allowBreaks: boolean): void {
  if (!w.whitespace) w.put(' ');
  let spaces = false;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as number;
    if (c === 0x20) {
      if (allowBreaks && !spaces && w.column > BEST_WIDTH && cps[i + 1] !== 0x20)
        w.writeIndent(indent);
      else w.put(' ');
      spaces = true;
    } else {
      w.put(String.fromCodePoint(c));
      w.indention = false;
      spaces = false;
    }
  }
  w.whitespace = false;
  w.indention = false;
}

function writeSingle(w: Writer, cps: number[], indent: number, allowBreaks: boolean): void {
  w.indicator("'", true, false, false);
  let spaces = false;
  let breaks = false;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as number;
    if (c === 0x20) {
      if (
        allowBreaks &&
        !spaces &&
        w.column > BEST_WIDTH &&
        i > 0 &&
        i < cps.length - 1 &&
        cps[i + 1] !== 0x20
      ) {
        w.writeIndent(indent);
      } else w.put(' ');
      spaces = true;
    } else if (isBreakCp(c)) {
      if (!breaks && c === 0x0a) w.putBreak();
      if (c === 0x0a) w.putBreak();
      else {
        w.out += String.fromCodePoint(c);
        w.column = 0;
      }
      w.indention = true;
      breaks = true;
    } else {
      if (breaks) w.writeIndent(indent);
      if (c === 0x27) w.put("'");
      w.put(String.fromCodePoint(c));
      w.indention = false;
      spaces = false;
      breaks = false;
    }
  }
  w.indicator("'", false, false, false);
}

const DOUBLE_ESCAPES = new Map<number, string>([
  [0x00, '0'],
  [0x07, 'a'],
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0b, 'v'],
  [0x0c, 'f'],
  [0x0d, 'r'],
  [0x1b, 'e'],
  [0x22, '"'],
  [0x5c, '\\'],
  [0x85, 'N'],
  [0xa0, '_'],
  [0x2028, 'L'],
  [0x2029, 'P'],
]);

function writeDouble(w: Writer, cps: number[], indent: number, allowBreaks: boolean): void {
  w.indicator('"', true, false, false);
  let spaces = false;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as number;
    if (!isPrintable(c) || c === 0xfeff || isBreakCp(c) || c === 0x22 || c === 0x5c) {
      const named = DOUBLE_ESCAPES.get(c);
      if (named !== undefined) w.put(`\\${named}`);
      else {
        const [letter, width] = c <= 0xff ? ['x', 2] : c <= 0xffff ? ['u', 4] : ['U', 8];
        w.put(`\\${letter}${c.toString(16).toUpperCase().padStart(width, '0')}`);
      }
      spaces = false;
    } else if (c === 0x20) {
      if (allowBreaks && !spaces && w.column > BEST_WIDTH && i > 0 && i < cps.length - 1) {
        w.writeIndent(indent);
        if (cps[i + 1] === 0x20) w.put('\\');
      } else w.put(' ');
      spaces = true;
    } else {
      w.put(String.fromCodePoint(c));
      spaces = false;
    }
  }
  w.indicator('"', false, false, false);
}

function writeLiteral(w: Writer, cps: number[], indent: number): void {
  w.indicator('|', true, false, false);
  if (cps[0] === 0x20 || isBreakCp(cps[0])) w.indicator(String(BEST_INDENT), false, false, false);
  const last = cps[cps.length - 1];
  if (cps.length === 0 || !isBreakCp(last)) w.indicator('-', false, false, false);
  else if (cps.length === 1 || isBreakCp(cps[cps.length - 2]))
    w.indicator('+', false, false, false);
  w.putBreak();
  w.indention = true;
  w.whitespace = true;
  let breaks = true;
  for (const c of cps) {
    if (isBreakCp(c)) {
      if (c === 0x0a) w.putBreak();
      else {
        w.out += String.fromCodePoint(c);
        w.column = 0;
      }
      w.indention = true;
      breaks = true;
    } else {
      if (breaks) {
        w.writeIndent(indent);
        breaks = false;
      }
      w.put(String.fromCodePoint(c));
      w.indention = false;
    }
  }
  // libyaml leaves the writer "at a line start" state after a block scalar.
  w.whitespace = true;
}

// ---------------------------------------------------------------------------------------------
// Collections

const isEmptyCollection = (node: YNode): boolean =>
  (node.kind === 'map' && node.entries.length === 0) ||
  (node.kind === 'seq' && node.items.length === 0);

/** libyaml's simple-key check: scalar, not multi-line, at most 128 bytes; or an empty collection. */
function isSimpleKey(node: YNode): boolean {
  if (node.kind === 'map' || node.kind === 'seq') return isEmptyCollection(node);
  const { text } = scalarRequest(node);
  return !/[\n\r\u0085\u2028\u2029]/.test(text) && Buffer.byteLength(text) <= 128;
}

/**
 * Emits `node` at the current writer position. `indent` is the enclosing collection's indent
 * (-1 at the document root); `mappingContext` says whether the node is a mapping value.
 */
function emitNode(
  w: Writer,
  node: YNode,
  indent: number,
  mappingContext: boolean,
  simpleKey: boolean,
): void {
  if (node.kind === 'map' || node.kind === 'seq') {
    if (isEmptyCollection(node)) {
      w.indicator(node.kind === 'map' ? '{' : '[', true, true, false);
      w.indicator(node.kind === 'map' ? '}' : ']', false, false, false);
      return;
    }
    if (node.kind === 'seq') {
      const indentless = mappingContext && !w.indention;
      const seqIndent = indent < 0 ? 0 : indentless ? indent : indent + BEST_INDENT;
      for (const item of node.items) {
        w.writeIndent(seqIndent);
        w.indicator('-', true, false, true);
        emitNode(w, item, seqIndent, false, false);
      }
      return;
    }
    const mapIndent = indent < 0 ? 0 : indent + BEST_INDENT;
    for (const [key, value] of node.struct ? node.entries : sortEntries(node.entries)) {
      w.writeIndent(mapIndent);
      if (isSimpleKey(key)) {
        emitNode(w, key, mapIndent, true, true);
        w.indicator(':', false, false, false);
      } else {
        w.indicator('?', true, false, true);
        emitNode(w, key, mapIndent, true, false);
        w.writeIndent(mapIndent);
        w.indicator(':', true, false, true);
      }
      emitNode(w, value, mapIndent, true, false);
    }
    return;
  }
  // Scalars are written at their parent's indent plus one step (libyaml's increase_indent(flow)).
  writeScalar(w, node, indent < 0 ? 0 : indent + BEST_INDENT, simpleKey);
}

/** Serializes a value as yaml.v2's `Marshal` did: one document, no `---`, ending with one LF. */
export function emitYaml(node: YNode): string {
  const w = new Writer();
  emitNode(w, node, -1, false, false);
  w.writeIndent(-1);
  if (!w.out.endsWith('\n')) w.putBreak();
  return w.out;
}
