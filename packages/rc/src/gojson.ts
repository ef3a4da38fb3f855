/**
 * JSON as Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped, `\b` and `\f`
 * written as `\u0008` and `\u000c`. Object keys keep insertion order (callers build objects in Go's
 * struct-field order, and sort map keys themselves). @internal
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/\\(?:u[0-9a-fA-F]{4}|.)|[<>&\u2028\u2029]/g, (m) => {
    if (m === '\\b') return '\\u0008';
    if (m === '\\f') return '\\u000c';
    if (m.length === 1) return `\\u${m.charCodeAt(0).toString(16).padStart(4, '0')}`;
    return m;
  });
}

/** A copy of a string map with keys in byte order (Go marshals maps sorted). @internal */
export function sortedMap(map: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(map).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = map[k]!;
  return out;
}
