/**
 * JSON as Go's `encoding/json` (the Go P2 was built with) writes it: `<`, `>`, `&`, U+2028 and
 * U+2029 escaped as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`; `\b` and `\f` written as
 * `\u0008` and `\u000c` (Go learnt the short forms only in 1.22). Object keys keep insertion order:
 * callers build objects in Go's struct-field order, and sort map keys with {@link sortedMap}.
 * With `indent`, the layout of Go's `json.MarshalIndent(v, "", indent)`.
 * @example goJson({ a: '<b>\b' }) // '{"a":"\\u003cb\\u003e\\u0008"}'
 */
export function goJson(value: unknown, indent?: string): string {
  return JSON.stringify(value, null, indent).replace(
    /\\(?:u[0-9a-fA-F]{4}|.)|[<>&\u2028\u2029]/g,
    (m) => {
      if (m === '\\b') return '\\u0008';
      if (m === '\\f') return '\\u000c';
      if (m.length === 1) return `\\u${m.charCodeAt(0).toString(16).padStart(4, '0')}`;
      return m;
    },
  );
}

/**
 * A copy of a string map with its keys in byte order, as Go marshals maps.
 * @example Object.keys(sortedMap({ b: '1', a: '2' })) // ['a', 'b']
 */
export function sortedMap(map: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(map).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    out[k] = map[k] as string;
  return out;
}
