/** Keeps the README's opening example true. */
import { expect, it } from 'vitest';
import { parseSelector } from './index.js';

it('the README example gives what it says', () => {
  const s = parseSelector('x in (foo,,baz), y, z notin ()');
  expect(s.toString()).toBe('x in (,baz,foo),y,z notin ()');
  expect(s.matches({ x: 'foo', y: '1' })).toBe(true);
  expect(s.matches({ x: 'foo' })).toBe(false);

  expect(() => parseSelector('zone in b')).toThrow(
    `cannot parse label selector "zone in b": expected '(' at position 8, found 'b'`,
  );
});
