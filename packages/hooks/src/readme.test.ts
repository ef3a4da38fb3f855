/** The README's example hook must keep working: run it through runHooks and compare the line shown. */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@p2/manifest';
import { expect, it } from 'vitest';
import { runHooks } from './run.js';

it('the README example hook does what the README says', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const hookSource = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  const manifestYaml = /parseManifest\('([^']*)'\)/.exec(readme)?.[1]?.replaceAll('\\n', '\n');
  const shown = /^\/\/ \[\['greeting', true, 0, '(.*)\\n'\]\]$/m.exec(readme)?.[1];
  expect(hookSource).toBeDefined();
  expect(manifestYaml).toBeDefined();
  expect(shown).toBeDefined();

  const dir = mkdtempSync(join(tmpdir(), 'p2t-hooks-readme-'));
  try {
    const hooksDir = join(dir, 'p2hooks.d');
    const home = join(dir, 'pods', 'hello');
    mkdirSync(hooksDir);
    mkdirSync(join(home, 'env'), { recursive: true });
    // The hook itself is the README's .mjs; a wrapper gives it tsx so `@p2/hooks` resolves to source.
    writeFileSync(join(dir, 'greeting.mjs'), hookSource!);
    const root = new URL('../../../', import.meta.url).pathname;
    writeFileSync(
      join(hooksDir, 'greeting'),
      `#!/bin/sh\nexec node --import tsx ${join(dir, 'greeting.mjs')}\n`,
    );
    chmodSync(join(hooksDir, 'greeting'), 0o755);
    const summary = await runHooks({
      event: 'after_install',
      hooksDirectory: hooksDir,
      node: 'h1',
      pod: { manifest: parseManifest(manifestYaml!), home },
      required: ['greeting'],
      path: process.env.PATH ?? '',
      extraEnv: { TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
      cwd: root,
      timeoutMs: 20_000,
    });
    const [record] = summary.records;
    expect(record, record?.output).toMatchObject({ hook: 'greeting', success: true, exitCode: 0 });
    expect(record!.output).toBe(`${shown!.replace('/data/pods/hello', home)}\n`);
    expect(readFileSync(join(home, 'env', 'GREETING'), 'utf8')).toBe('hello hello on h1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
