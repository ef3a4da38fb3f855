/** The README's opening example must stay true: run it and compare with the output it shows. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
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
  // Use a free port instead of 43770 so parallel runs cannot collide.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = String((probe.address() as AddressInfo).port);
  await new Promise((r) => probe.close(r));
  const dir = mkdtempSync(join(tmpdir(), 'p2t-health-readme-'));
  try {
    const script = join(dir, 'example.mts');
    writeFileSync(script, code!.replaceAll('43770', port));
    const root = new URL('../../../', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)('node', ['--import', 'tsx', script], {
      cwd: root,
      env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
    });
    expect(stdout).toBe(shown!.replaceAll('43770', port));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
