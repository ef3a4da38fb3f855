/** The README's opening example must stay true: each call gives the value its comment shows. */
import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { parseGoDuration, parseGoDurationNs } from './index.js';

it('the README example returns what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const calls = [...code.matchAll(/^(parseGo\w+)\('([^']*)'\); +\/\/ (\S+)/gm)];
  expect(calls).toHaveLength(4);
  for (const [, fn, argument, shown] of calls) {
    const parse = fn === 'parseGoDurationNs' ? parseGoDurationNs : parseGoDuration;
    expect([argument, String(parse(argument as string))]).toEqual([argument, shown]);
  }
});
