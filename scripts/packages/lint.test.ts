/**
 * Packaging lint over the published form of every package: publint (package.json fields, exports,
 * files), are-the-types-wrong (types resolve for ESM importers; the packages are ESM-only, so the
 * `esm-only` profile), and knip over the workspace (no dead files, exports or dependencies).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = new URL('../../', import.meta.url).pathname;
const bin = (name: string) => join(repoRoot, 'node_modules/.bin', name);

/** Every package that could be published: `packages/*` and the apps (none of them is private). */
const publishable = ['packages', 'apps']
  .flatMap((group) => readdirSync(join(repoRoot, group)).map((d) => join(repoRoot, group, d)))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ manifest }) => !manifest.private)
  .map(({ dir, manifest }) => ({ dir, name: manifest.name as string }));

const packDir = mkdtempSync(join(tmpdir(), 'p2t-packs-'));
afterAll(() => rmSync(packDir, { recursive: true, force: true }));

/** Exit code and output of a check, so a failure shows what the tool said. */
async function check(file: string, args: string[], cwd: string) {
  return run(file, args, { cwd, maxBuffer: 16 * 2 ** 20, timeout: 120_000 }).then(
    ({ stdout }) => ({ code: 0, output: stdout }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code ?? 1,
      output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
    }),
  );
}

describe.concurrent.each(publishable)('$name', ({ dir }) => {
  it('publint reports nothing', async () => {
    const { code, output } = await check(bin('publint'), ['--strict', '.'], dir);
    expect(output).toMatch(/All good!/);
    expect(code, output).toBe(0);
  });

  it('are-the-types-wrong reports nothing', async () => {
    // pnpm pack turns `workspace:^` and `catalog:` into versions, as publishing does.
    const { stdout } = await run('pnpm', ['pack', '--json', '--pack-destination', packDir], {
      cwd: dir,
    });
    const tarball = (JSON.parse(stdout) as { filename: string }).filename;
    const { code, output } = await check(
      bin('attw'),
      [tarball, '--profile', 'esm-only', '--format', 'table-flipped'],
      dir,
    );
    expect(code, output).toBe(0);
  });
});

it('knip finds no dead files, exports or dependencies', async () => {
  const { code, output } = await check(bin('knip'), ['--no-progress'], repoRoot);
  expect(output.trim(), output).toBe('');
  expect(code).toBe(0);
});
