/**
 * Go's `flag` package values, as P2's preparer `params:` were parsed (every value is a string,
 * handed to the registered flag): booleans by `strconv.ParseBool`, integers by
 * `strconv.ParseInt(s, 0, 64)`.
 */

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/**
 * Go's `strconv.ParseBool` (what a `flag.Bool` accepts): `1 t T TRUE true True` and
 * `0 f F FALSE false False`; `undefined` for anything else (`yes`, `on`, ` true`).
 * @example parseGoBool('t') // true
 */
export function parseGoBool(text: string): boolean | undefined {
  if (GO_TRUE.has(text)) return true;
  if (GO_FALSE.has(text)) return false;
  return undefined;
}

/** Digits of each base after its prefix; `_` may separate digits and follow a prefix (Go's underscoreOK). */
const BODY: Record<number, RegExp> = {
  2: /^_?[01]+(_[01]+)*$/,
  8: /^_?[0-7]+(_[0-7]+)*$/,
  10: /^[0-9]+(_[0-9]+)*$/,
  16: /^_?[0-9a-fA-F]+(_[0-9a-fA-F]+)*$/,
};

const INT64_MAX = 2n ** 63n - 1n;

/**
 * Go's `strconv.ParseInt(text, 0, 64)` (what a `flag.Int`/`flag.Int64` accepts): an optional sign,
 * then decimal, `0x…` hex, `0o…`/`0…` octal or `0b…` binary, `_` allowed between digits. Returns
 * `undefined` where Go returns an error, and for values beyond ±2^53 (exact in a JS number).
 * @example parseGoInt('0x10') // 16
 * @example parseGoInt('010')  // 8 (a leading 0 is octal, as in Go)
 */
export function parseGoInt(text: string): number | undefined {
  let rest = text;
  let negative = false;
  if (rest.startsWith('+') || rest.startsWith('-')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  let base = 10;
  const prefix = /^0([xXoObB])/.exec(rest);
  if (prefix) {
    base = { x: 16, o: 8, b: 2 }[(prefix[1] as string).toLowerCase() as 'x' | 'o' | 'b'];
    rest = rest.slice(2);
  } else if (rest.length > 1 && rest.startsWith('0')) {
    base = 8;
    rest = rest.slice(1);
  }
  if (!(BODY[base] as RegExp).test(rest)) return undefined;
  const digits = rest.replaceAll('_', '');
  const magnitude = BigInt(base === 10 ? digits : `0${'box'[[2, 8, 16].indexOf(base)]}${digits}`);
  if (magnitude > INT64_MAX + (negative ? 1n : 0n)) return undefined;
  const value = negative ? -magnitude : magnitude;
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
    return undefined;
  return Number(value);
}
