/**
 * openpgp.js is ~6 MiB of a process's memory: only `loadOpenpgp` may import it as a value, so a
 * host whose manifests and artifacts are not signed never loads it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { loadOpenpgp } from './openpgp.js';

const dir = fileURLToPath(new URL('.', import.meta.url));

it('imports openpgp as a value only in openpgp.ts (elsewhere types only)', () => {
  const offenders = readdirSync(dir)
    // test-support.ts makes keys for tests only; nothing in the package imports it
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .filter((f) => f !== 'openpgp.ts' && f !== 'test-support.ts')
    .filter((f) =>
      /^import\s+(?!type\b)[^;]*from\s+'openpgp'/m.test(readFileSync(`${dir}/${f}`, 'utf8')),
    );
  expect(offenders).toEqual([]);
});

it('loads the module once and shares it', async () => {
  const first = await loadOpenpgp();
  expect(typeof first.readKeys).toBe('function');
  expect(await loadOpenpgp()).toBe(first);
});
