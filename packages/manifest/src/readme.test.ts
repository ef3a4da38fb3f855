/** The README's opening example must stay true: run its input and compare with the outputs it shows. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { lintManifest, parseManifest } from './index.js';

it('the README example prints what the README says', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const input = /parseManifest\(`([\s\S]*?)`\);/.exec(readme)?.[1];
  expect(input).toBeDefined();
  const manifest = parseManifest(input ?? '');
  const shown = (call: string): string | undefined =>
    new RegExp(`^${call.replace(/[.()]/g, '\\$&')};\\s+// (.*)$`, 'm').exec(readme)?.[1];
  expect(shown('manifest.sha()')).toBe(`'${manifest.sha()}'`);
  expect(shown("manifest.launchableVersion('app')")).toBe(`'${manifest.launchableVersion('app')}'`);
  expect(shown("manifest.restartTimeoutSeconds('app')")).toBe(
    String(manifest.restartTimeoutSeconds('app')),
  );
  expect(manifest.statusCheck()).toEqual({
    port: 8080,
    path: '/_status',
    scheme: 'http',
    localhostOnly: false,
  });
  expect(manifest.configFiles().config).toBe('debug: true\nport: 8080\n');
  expect(lintManifest(manifest)).toEqual({ errors: [], warnings: [] });
  const canonical = readme
    .split('manifest.canonicalYaml();\n')[1]
    ?.split('```')[0]
    ?.split('\n')
    .filter((line) => line.startsWith('//'))
    .map((line) => line.replace(/^\/\/ ?/, ''))
    .join('\n');
  expect(`${canonical}\n`).toBe(manifest.canonicalYaml());
});
