/**
 * The README's opening example must stay true: run it as written (root, real runit; it makes and
 * removes its own temporary service root) and check every `// →` line.
 */
import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';

it('the README example prints what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const expected = [...code.matchAll(/console\.log\(.*\); \/\/ → (.*)$/gm)].map((m) => m[1]);
  expect(expected.length).toBeGreaterThan(1);
  // The example's imports become the function's parameters; `@p2/runit` is this package's source.
  const imports = [...code.matchAll(/^import \{ (.*) \} from '(.*)';$/gm)].map((m) => ({
    names: (m[1] as string).split(', '),
    from: m[2] === '@p2/runit' ? './index.js' : (m[2] as string),
  }));
  const names: string[] = [];
  const values: unknown[] = [];
  for (const { names: imported, from } of imports) {
    const module = (await import(from)) as Record<string, unknown>;
    for (const name of imported) {
      names.push(name);
      values.push(module[name]);
    }
  }
  const printed: string[] = [];
  const print = (value: unknown) => printed.push(JSON.stringify(value));
  const body = code.replace(/^import .*$/gm, '').replace(/console\.log\(/g, 'print(');
  const AsyncFunction = (async () => undefined).constructor as new (
    ...args: string[]
  ) => (...a: unknown[]) => Promise<void>;
  await new AsyncFunction('print', ...names, body)(print, ...values);
  expect(printed).toEqual(expected);
}, 60_000);
