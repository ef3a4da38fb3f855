/**
 * The README's opening example must stay true: make the artifact with its shell block, run its
 * TypeScript as written (both in a temporary directory instead of /tmp), and compare with the
 * output it shows (sizes, digests and timings vary with the host's tar and gzip).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format, promisify } from 'node:util';
import { expect, it, vi } from 'vitest';

it('the README example prints what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const sh = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const shown = /Output:\n\n```text\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  expect(shown).toMatch(/^fetched 163\/163 bytes\n/);
  const dir = await mkdtemp(join(tmpdir(), 'p2t-hoist-readme-'));
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(format(...args));
  });
  try {
    await promisify(execFile)('sh', ['-ec', sh.replaceAll('/tmp/', `${dir}/tmp/`)]);
    // Imported from a file, so that vitest compiles it and `@p2/hoist` is this package's source.
    await writeFile(join(dir, 'example.ts'), code.replaceAll('/tmp/', `${dir}/tmp/`));
    await import(join(dir, 'example.ts'));
  } finally {
    log.mockRestore();
    await rm(dir, { recursive: true, force: true });
  }
  const [fetched, installed, activated, entryPoints] = printed;
  expect(printed).toHaveLength(4);
  expect(fetched).toMatch(/^fetched (\d+)\/\1 bytes$/);
  expect(installed).toContain(
    `installDir: '${dir}/tmp/pods/hello/app/installs/app_3c021aff048ca8117593f9c71e03b87cf72fd440'`,
  );
  expect(installed).toMatch(/alreadyInstalled: false,\s+replaced: false/);
  expect(installed).toMatch(/entries: 2,\s+files: 1,\s+directories: 1,\s+symlinks: 0/);
  expect(activated).toBe('{ previous: undefined }');
  expect(entryPoints).toMatch(/relativePath: 'bin\/launch',[\s\S]*serviceSuffix: 'launch'/);
});
