import { LabelsError, LabelsErrorCode } from './errors.js';

/**
 * A requirement operator, spelled as in selector text. `exists` is a bare `key`; `!` is `!key`.
 */
export type Operator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!';

/** One requirement of a selector: all requirements of a selector must match (AND). */
export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  /** The value set, sorted and without duplicates; empty for `exists` and `!`. */
  readonly values: readonly string[];
}

/** A set of labels: label key → value. */
export type LabelSet = Readonly<Record<string, string>>;

const NAME_MAX = 63;
const SUBDOMAIN_MAX = 253;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SELECTOR_HINT =
  'selectors look like `key=value,key2!=v,key3 in (a,b),key4 notin (c),key5,!key6`; an empty string matches everything';

/**
 * Why `key` is not a valid label key, or `undefined` when it is. A key is an optional DNS-1123
 * subdomain prefix and `/`, then a name of 1–63 chars of `[A-Za-z0-9._-]` that starts and ends
 * alphanumeric (Kubernetes' qualified name).
 */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) return 'the prefix before "/" is empty';
    if (prefix.length > SUBDOMAIN_MAX) return `the prefix is longer than ${SUBDOMAIN_MAX} chars`;
    if (!DNS1123_SUBDOMAIN.test(prefix))
      return 'the prefix before "/" must be a DNS-1123 subdomain (lower-case alphanumerics, "-" and ".")';
  } else {
    return 'a key may contain at most one "/"';
  }
  if (name.length === 0) return 'the name is empty';
  if (name.length > NAME_MAX) return `the name is longer than ${NAME_MAX} chars`;
  if (!QUALIFIED_NAME.test(name))
    return 'the name must consist of alphanumerics, "-", "_" or "." and start and end with an alphanumeric';
  return undefined;
}

/** Why `value` is not a valid label value (≤ 63 chars of `[A-Za-z0-9._-]`, may be empty), or `undefined`. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > NAME_MAX) return `the value is longer than ${NAME_MAX} chars`;
  if (!QUALIFIED_NAME.test(value))
    return 'a value must consist of alphanumerics, "-", "_" or "." and start and end with an alphanumeric';
  return undefined;
}

/** True when `key` is a valid label key (see {@link labelKeyProblem}). */
export function isValidLabelKey(key: string): boolean {
  return labelKeyProblem(key) === undefined;
}

/** True when `value` is a valid label value (see {@link labelValueProblem}). */
export function isValidLabelValue(value: string): boolean {
  return labelValueProblem(value) === undefined;
}

/**
 * Builds one validated requirement. Values are de-duplicated and sorted, as Kubernetes' string sets are.
 *
 * @throws LabelsError `P2_LABELS_INVALID_KEY`, `P2_LABELS_INVALID_VALUE`, or
 *   `P2_LABELS_INVALID_REQUIREMENT` when the value count does not fit the operator (`=`, `==`,
 *   `!=` take one; `in`, `notin` at least one; `exists`, `!` none).
 * @example requirement('zone', 'in', ['b', 'a']) // { key: 'zone', operator: 'in', values: ['a', 'b'] }
 */
export function requirement(
  key: string,
  operator: Operator,
  values: readonly string[] = [],
): Requirement {
  const keyProblem = labelKeyProblem(key);
  if (keyProblem !== undefined) {
    throw new LabelsError(
      LabelsErrorCode.INVALID_KEY,
      `invalid label key "${key}": ${keyProblem}`,
      {
        details: { key },
      },
    );
  }
  const set = [...new Set(values)].sort(compareStrings);
  switch (operator) {
    case 'in':
    case 'notin':
      if (set.length === 0) {
        throw new LabelsError(
          LabelsErrorCode.INVALID_REQUIREMENT,
          `the '${operator}' operator on "${key}" needs at least one value, got none`,
          { details: { key } },
        );
      }
      break;
    case '=':
    case '==':
    case '!=':
      if (set.length !== 1) {
        throw new LabelsError(
          LabelsErrorCode.INVALID_REQUIREMENT,
          `the '${operator}' operator on "${key}" needs exactly one value, got ${set.length}`,
          { details: { key } },
        );
      }
      break;
    case 'exists':
    case '!':
      if (set.length !== 0) {
        throw new LabelsError(
          LabelsErrorCode.INVALID_REQUIREMENT,
          `the '${operator === '!' ? '!key' : 'key'}' form on "${key}" takes no values, got ${set.length}`,
          { details: { key } },
        );
      }
      break;
    default:
      throw new LabelsError(
        LabelsErrorCode.INVALID_REQUIREMENT,
        `unknown operator '${String(operator)}' on "${key}"`,
        { details: { key } },
      );
  }
  for (const value of set) {
    const problem = labelValueProblem(value);
    if (problem !== undefined) {
      throw new LabelsError(
        LabelsErrorCode.INVALID_VALUE,
        `invalid value "${value}" for label "${key}": ${problem}`,
        { details: { key, value } },
      );
    }
  }
  return Object.freeze({ key, operator, values: Object.freeze(set) });
}

/** Byte-wise string order (Go's `<` on strings, which is what `sort.Strings` uses). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function requirementMatches(r: Requirement, labels: LabelSet): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case '=':
    case '==':
    case 'in':
      return has && r.values.includes(labels[r.key]!);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(labels[r.key]!);
    case 'exists':
      return has;
    case '!':
      return !has;
  }
}

function requirementString(r: Requirement): string {
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case 'in':
    case 'notin':
      return `${r.key} ${r.operator} (${r.values.join(',')})`;
    default:
      return `${r.key}${r.operator}${r.values[0] ?? ''}`;
  }
}

/**
 * A parsed label selector: a list of requirements, all of which must match. Immutable.
 * Requirements are kept sorted by key (stable, so `x=1,x=0` keeps its order), exactly as P2's
 * vendored Kubernetes v1.2 parser stores them, and {@link Selector.toString} gives P2's canonical
 * string — the form stored in RC and daemon-set records.
 *
 * @example
 * ```ts
 * const s = Selector.parse('zone in (b,a), role=web');
 * s.toString();                                  // 'role=web,zone in (a,b)'
 * s.matches({ role: 'web', zone: 'a' });         // true
 * s.matches({ role: 'web' });                    // false
 * ```
 */
export class Selector {
  /** The requirements, sorted by key. */
  readonly requirements: readonly Requirement[];

  private constructor(requirements: readonly Requirement[]) {
    // Array.prototype.sort is stable: equal keys keep input order, as Go's insertion sort did.
    this.requirements = Object.freeze(
      [...requirements].sort((a, b) => compareStrings(a.key, b.key)),
    );
  }

  /**
   * Parses Kubernetes (v1.2) selector syntax.
   *
   * @throws LabelsError `P2_LABELS_SELECTOR_SYNTAX` (with `details.position`, `expected`, `found`),
   *   `P2_LABELS_INVALID_KEY` or `P2_LABELS_INVALID_VALUE` (with `details.position`).
   * @example Selector.parse('!foo, bar != baz').toString() // 'bar!=baz,!foo'
   */
  static parse(text: string): Selector {
    return new Selector(new Parser(text).parse());
  }

  /** The empty selector: matches every label set; its string is `''`. */
  static everything(): Selector {
    return EVERYTHING;
  }

  /** P2's serialisable "match nothing" selector, `x=1,x=0`. */
  static nothing(): Selector {
    return NOTHING;
  }

  /**
   * A selector of `key=value` requirements, one per label (Kubernetes' `SelectorFromSet`).
   *
   * @throws LabelsError `P2_LABELS_INVALID_KEY` / `P2_LABELS_INVALID_VALUE`
   * @example Selector.fromSet({ pod_id: 'hello', availability_zone: 'a' }).toString() // 'availability_zone=a,pod_id=hello'
   */
  static fromSet(labels: LabelSet): Selector {
    return new Selector(Object.entries(labels).map(([k, v]) => requirement(k, '=', [v])));
  }

  /** A selector of the given requirements (validated by {@link requirement} when built there). */
  static of(requirements: readonly Requirement[]): Selector {
    return new Selector(requirements);
  }

  /**
   * A new selector with one more requirement.
   *
   * @throws LabelsError as {@link requirement}
   * @example Selector.everything().add('pod_id', '=', ['hello']).toString() // 'pod_id=hello'
   */
  add(key: string, operator: Operator, values: readonly string[] = []): Selector {
    return new Selector([...this.requirements, requirement(key, operator, values)]);
  }

  /** True when every requirement matches `labels`. The empty selector matches everything. */
  matches(labels: LabelSet): boolean {
    for (const r of this.requirements) if (!requirementMatches(r, labels)) return false;
    return true;
  }

  /** True for the empty selector (matches everything). */
  isEverything(): boolean {
    return this.requirements.length === 0;
  }

  /** P2's canonical string (sorted requirements, sorted values, no spaces around `=`). */
  toString(): string {
    return this.requirements.map(requirementString).join(',');
  }

  /** The canonical string, so selectors serialise as strings in JSON records. */
  toJSON(): string {
    return this.toString();
  }

  /** True when both selectors have the same canonical string. */
  equals(other: Selector): boolean {
    return this.toString() === other.toString();
  }
}

/**
 * Parses a selector string; shorthand for {@link Selector.parse}.
 *
 * @throws LabelsError `P2_LABELS_SELECTOR_SYNTAX`, `P2_LABELS_INVALID_KEY`, `P2_LABELS_INVALID_VALUE`
 * @example parseSelector('b=2,a=1').toString() // 'a=1,b=2'
 */
export function parseSelector(text: string): Selector {
  return Selector.parse(text);
}

/**
 * The canonical string of a label set: `k=v` pairs sorted by key, joined by commas (Kubernetes'
 * `labels.Set.String()`); P2's diff watches compare label sets by it.
 *
 * @example labelSetString({ b: '2', a: '1' }) // 'a=1,b=2'
 */
export function labelSetString(labels: LabelSet): string {
  return Object.keys(labels)
    .sort(compareStrings)
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser: the token rules and grammar of Kubernetes v1.2's labels/selector.go.

type TokenKind = 'end' | 'identifier' | 'in' | 'notin' | '(' | ')' | ',' | '!' | '=' | '==' | '!=';

interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

const SYMBOLS = new Set(['(', ')', ',', '!', '=', '==', '!=']);

function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

function isSpecial(ch: string): boolean {
  return ch === '=' || ch === '!' || ch === '(' || ch === ')' || ch === ',';
}

function lex(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && isWhitespace(text[i]!)) i++;
    if (i >= text.length) {
      tokens.push({ kind: 'end', text: '', pos: text.length });
      return tokens;
    }
    const start = i;
    if (isSpecial(text[i]!)) {
      // Longest run of special characters that still forms a symbol (`!=`, `==`, else one char).
      let best = '';
      let buffer = '';
      while (i < text.length && isSpecial(text[i]!)) {
        buffer += text[i];
        if (SYMBOLS.has(buffer)) best = buffer;
        else if (best !== '') break;
        i++;
      }
      i = start + best.length;
      tokens.push({ kind: best as TokenKind, text: best, pos: start });
      continue;
    }
    while (i < text.length && !isWhitespace(text[i]!) && !isSpecial(text[i]!)) i++;
    const word = text.slice(start, i);
    tokens.push({
      kind: word === 'in' || word === 'notin' ? word : 'identifier',
      text: word,
      pos: start,
    });
  }
}

function describe(token: Token): string {
  return token.kind === 'end' ? 'end of string' : `'${token.text}'`;
}

class Parser {
  private readonly tokens: Token[];
  private index = 0;

  constructor(private readonly text: string) {
    this.tokens = lex(text);
  }

  /** The next token; `in`/`notin` are plain identifiers unless `operator` context is asked for. */
  private peek(operator = false): Token {
    const t = this.tokens[this.index]!;
    return !operator && (t.kind === 'in' || t.kind === 'notin') ? { ...t, kind: 'identifier' } : t;
  }

  private next(operator = false): Token {
    const t = this.peek(operator);
    if (t.kind !== 'end') this.index++;
    return t;
  }

  private fail(token: Token, expected: string): never {
    const found = describe(token);
    throw new LabelsError(
      LabelsErrorCode.SELECTOR_SYNTAX,
      `cannot parse label selector "${this.text}": expected ${expected} at position ${token.pos}, found ${found}`,
      {
        hint: SELECTOR_HINT,
        details: { selector: this.text, position: token.pos, expected, found },
      },
    );
  }

  parse(): Requirement[] {
    const requirements: Requirement[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'end') return requirements;
      if (t.kind !== 'identifier' && t.kind !== '!')
        this.fail(t, "'!', a label key, or end of string");
      requirements.push(this.parseRequirement());
      const after = this.next(true);
      if (after.kind === 'end') return requirements;
      if (after.kind !== ',') this.fail(after, "',' or end of string");
      const following = this.peek();
      if (following.kind !== 'identifier' && following.kind !== '!')
        this.fail(following, "a label key or '!' after ','");
    }
  }

  private parseRequirement(): Requirement {
    let negated = false;
    let keyToken = this.next();
    if (keyToken.kind === '!') {
      negated = true;
      keyToken = this.next();
    }
    if (keyToken.kind !== 'identifier') this.fail(keyToken, 'a label key');
    const key = keyToken.text;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem !== undefined) {
      throw new LabelsError(
        LabelsErrorCode.INVALID_KEY,
        `invalid label key "${key}" at position ${keyToken.pos} in selector "${this.text}": ${keyProblem}`,
        { hint: SELECTOR_HINT, details: { selector: this.text, position: keyToken.pos, key } },
      );
    }
    if (negated) return requirement(key, '!');
    const look = this.peek();
    if (look.kind === 'end' || look.kind === ',') return requirement(key, 'exists');

    const opToken = this.next(true);
    let operator: Operator;
    switch (opToken.kind) {
      case '=':
      case '==':
      case '!=':
      case 'in':
      case 'notin':
        operator = opToken.kind;
        break;
      default:
        this.fail(opToken, "an operator ('=', '==', '!=', 'in' or 'notin')");
    }
    const valueTokens =
      operator === 'in' || operator === 'notin' ? this.parseValueSet() : this.parseExactValue();
    for (const v of valueTokens) {
      const problem = labelValueProblem(v.text);
      if (problem !== undefined) {
        throw new LabelsError(
          LabelsErrorCode.INVALID_VALUE,
          `invalid value "${v.text}" for label "${key}" at position ${v.pos} in selector "${this.text}": ${problem}`,
          {
            hint: SELECTOR_HINT,
            details: { selector: this.text, position: v.pos, key, value: v.text },
          },
        );
      }
    }
    return requirement(
      key,
      operator,
      valueTokens.map((v) => v.text),
    );
  }

  private parseExactValue(): Token[] {
    const look = this.peek();
    // `key=` followed by end or comma means the empty value.
    if (look.kind === 'end' || look.kind === ',')
      return [{ kind: 'identifier', text: '', pos: look.pos }];
    const t = this.next();
    if (t.kind !== 'identifier') this.fail(t, 'a value');
    return [t];
  }

  private parseValueSet(): Token[] {
    const open = this.next();
    if (open.kind !== '(') this.fail(open, "'('");
    const look = this.peek();
    if (look.kind === ')') {
      this.next();
      return [{ kind: 'identifier', text: '', pos: look.pos }]; // `()` is the set {""}
    }
    if (look.kind !== 'identifier' && look.kind !== ',') this.fail(look, "a value, ',' or ')'");
    const values: Token[] = [];
    const empty = (pos: number): Token => ({ kind: 'identifier', text: '', pos });
    for (;;) {
      const t = this.next();
      if (t.kind === 'identifier') {
        values.push(t);
        const after = this.peek();
        if (after.kind === ',') continue;
        if (after.kind === ')') break;
        this.fail(after, "',' or ')'");
      } else if (t.kind === ',') {
        if (values.length === 0) values.push(empty(t.pos)); // `(,`
        const after = this.peek();
        if (after.kind === ')') {
          values.push(empty(after.pos)); // `,)`
          break;
        }
        if (after.kind === ',') {
          this.next();
          values.push(empty(after.pos)); // `,,`
        }
      } else {
        this.fail(t, "a value or ','");
      }
    }
    const close = this.next();
    if (close.kind !== ')') this.fail(close, "')'");
    return values;
  }
}

const EVERYTHING = Selector.of([]);
const NOTHING = Selector.parse('x=1,x=0');
