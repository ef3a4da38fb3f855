import { describe, expect, it } from 'vitest';
import { table } from './table.js';

describe('table', () => {
  it('aligns columns ignoring ANSI colour codes', () => {
    const out = table(
      ['A', 'B', 'C'],
      [
        ['\u001b[32mgreen\u001b[39m', 'x', 'last'],
        ['y', 'longer', 'z'],
      ],
    );
    const plain = out.replace(/\u001b\[[0-9;]*m/g, '').split('\n');
    expect(plain).toEqual(['A      B       C', 'green  x       last', 'y      longer  z']);
  });
});
