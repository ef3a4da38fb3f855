/**
 * The README's opening example must stay true: run it as written (with the repository's
 * `fixtures/p2/keys/` as an absolute path), printing the expressions it shows a value for, and
 * compare with those values and the error line it shows.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { expect, it, vi } from 'vitest';
import { fixturesDir } from '../../../vitest.shared.js';

it('the README example gives what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  // `signer.fingerprint; // '6BB5…'`: the value, in single-quoted JSON.
  const values = /^(signer\.\w+); \/\/ (.*)$/gm;
  const shownValues = [...code.matchAll(values)].map((m) =>
    JSON.parse((m[2] as string).replaceAll("'", '"')),
  );
  expect(shownValues).toHaveLength(2);
  const shownError = /^\/\/ (AuthError .*)$/m.exec(code)?.[1] ?? '';
  const keys = join(fixturesDir, 'keys/');
  const runnable = code
    .replace("'fixtures/p2/keys/'", JSON.stringify(keys))
    .replace(values, 'console.log(JSON.stringify($1));');
  const dir = await mkdtemp(join(tmpdir(), 'p2t-auth-readme-'));
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(format(...args));
  });
  try {
    // Imported from a file, so that vitest compiles it and `@p2/auth` is this package's source.
    await writeFile(join(dir, 'example.ts'), runnable);
    await import(join(dir, 'example.ts'));
  } finally {
    log.mockRestore();
    await rm(dir, { recursive: true, force: true });
  }
  expect(printed).toEqual([
    ...shownValues.map((value) => JSON.stringify(value)),
    shownError.replace('…/', keys),
  ]);
});
