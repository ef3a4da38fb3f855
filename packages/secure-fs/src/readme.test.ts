/**
 * The README's opening example must stay true: run it as written (in a temporary directory instead
 * of /tmp/p2-example) and compare what it prints with the comment after its `console.log`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { expect, it, vi } from 'vitest';

it('the README example prints what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const shown = [...code.matchAll(/console\.log\(.*\); +\/\/ (.*)$/gm)].map((m) => m[1]);
  expect(shown).toEqual(['{}']);
  const dir = await mkdtemp(join(tmpdir(), 'p2t-secure-fs-readme-'));
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(format(...args));
  });
  try {
    // Imported from a file, so that vitest compiles it and `@p2/secure-fs` is this package's source.
    await writeFile(
      join(dir, 'example.ts'),
      code.replaceAll('/tmp/p2-example', join(dir, 'p2-example')),
    );
    await import(join(dir, 'example.ts'));
  } finally {
    log.mockRestore();
    await rm(dir, { recursive: true, force: true });
  }
  expect(printed).toEqual(shown);
});
