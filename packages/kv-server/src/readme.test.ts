/**
 * The README's opening example must stay true: run it as written (with a temporary data directory
 * instead of /tmp/p2-kv): the server starts, takes a write and closes.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';

it('the README example runs', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  expect(code).toContain("dataDir: '/tmp/p2-kv'");
  const dir = await mkdtemp(join(tmpdir(), 'p2t-kv-server-readme-'));
  // The PUT's answer, which the README shows as `body: true`.
  const answers: string[] = [];
  const fetchForReal = globalThis.fetch;
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (...args) => {
    const response = await fetchForReal(...args);
    answers.push(await response.clone().text());
    return response;
  });
  try {
    // Imported from a file, so that vitest compiles it and `@p2/kv-server` is this package's source.
    await writeFile(join(dir, 'example.ts'), code.replace('/tmp/p2-kv', join(dir, 'kv-data')));
    await import(join(dir, 'example.ts'));
  } finally {
    spy.mockRestore();
    await rm(dir, { recursive: true, force: true });
  }
  expect(answers).toEqual(['true']);
});
