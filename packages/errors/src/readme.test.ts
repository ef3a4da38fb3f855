/**
 * The README's opening example must stay true: run it as written and compare what it prints with
 * the comment after each `console.log` (on its line, or the line below).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { expect, it, vi } from 'vitest';

it('the README example prints what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const shown = [...code.matchAll(/console\.log\(.*\);(?: \/\/ (.*)|\n\s*\/\/ (.*))$/gm)].map(
    (m) => m[1] ?? m[2],
  );
  expect(shown).toHaveLength(2);
  // Written to a temporary file and imported, so that vitest compiles its TypeScript and `@p2/errors`
  // resolves to this package's source.
  const dir = await mkdtemp(join(tmpdir(), 'p2t-errors-readme-'));
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(format(...args));
  });
  try {
    await writeFile(join(dir, 'example.ts'), code);
    await import(join(dir, 'example.ts'));
  } finally {
    log.mockRestore();
    await rm(dir, { recursive: true, force: true });
  }
  expect(printed).toEqual(shown);
});
