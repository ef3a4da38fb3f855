import { describe, expect, it } from 'vitest';
import { goJson, sortedMap } from './index.js';

describe('goJson', () => {
  it('escapes what Go escapes, and writes \\b and \\f as Go ≤ 1.21 did', () => {
    expect(goJson({ html: '<a href="x">&</a>', ls: '\u2028\u2029' })).toBe(
      '{"html":"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e","ls":"\\u2028\\u2029"}',
    );
    expect(goJson('\b\f\n\t\r\\')).toBe('"\\u0008\\u000c\\n\\t\\r\\\\"');
    expect(goJson('\u0001')).toBe('"\\u0001"');
  });
  it('keeps insertion order; sortedMap sorts map keys by bytes', () => {
    expect(goJson({ b: 1, a: 2 })).toBe('{"b":1,"a":2}');
    expect(goJson(sortedMap({ b: '1', B: '2', a: '3' }))).toBe('{"B":"2","a":"3","b":"1"}');
  });
  it('indents as json.MarshalIndent(v, "", indent): ": " after keys, {} and [] kept empty', () => {
    expect(goJson({ a: { b: '<' }, e: {}, l: [] }, '    ')).toBe(
      '{\n    "a": {\n        "b": "\\u003c"\n    },\n    "e": {},\n    "l": []\n}',
    );
  });
});
