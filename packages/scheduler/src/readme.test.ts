/** The README's opening example must stay true: run it and check every `// →` line. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import * as scheduler from './index.js';

it('the README example prints what the README says', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const expected = [...code.matchAll(/console\.log\(.*\); \/\/ → (.*)$/gm)].map((m) => m[1]);
  expect(expected.length).toBeGreaterThan(2);
  const body = code.replace(/^import .*$/gm, '').replace(/console\.log\(/g, 'print(');
  const printed: string[] = [];
  const print = (value: unknown) => printed.push(JSON.stringify(value));
  const run = new Function('print', ...Object.keys(scheduler), body);
  run(print, ...Object.values(scheduler));
  expect(printed).toEqual(expected);
});
