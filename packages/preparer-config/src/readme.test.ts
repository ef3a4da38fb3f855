/** The README's opening example must stay true: run it and compare with the output it shows. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

it('the README example prints what the README says', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  const shown = /prints\n\n```text\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  expect(shown).toBeDefined();
  const dir = mkdtempSync(join(tmpdir(), 'p2t-preparer-config-readme-'));
  try {
    const script = join(dir, 'example.mts');
    writeFileSync(script, code!);
    const root = new URL('../../../', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)('node', ['--import', 'tsx', script], {
      cwd: root,
      env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
    });
    expect(stdout).toBe(shown!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
