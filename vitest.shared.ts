/**
 * Shared vitest configuration for every workspace package.
 *
 * - `@p2/<name>` resolves to `packages/<name>/src/index.ts`, so tests run from source without a build.
 * - Every run writes a JSON report to `.reports/vitest.json`; `scripts/test-summary.mjs` adds them up.
 * - `P2_TEST_LANE=fast` skips tests that touch the host (`*.host.test.ts`: users, cgroups, runit, gpg, etcd).
 */
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig, type ViteUserConfig } from 'vitest/config';

const repoRoot = fileURLToPath(new URL('.', import.meta.url));

function workspaceAliases(): Record<string, string> {
  const dir = `${repoRoot}packages`;
  const aliases: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const entry = `${dir}/${name}/src/index.ts`;
    if (existsSync(entry)) aliases[`@p2/${name}`] = entry;
  }
  return aliases;
}

/** Absolute path of `fixtures/p2` (the original P2's data files, copied into this repository). */
export const fixturesDir = fileURLToPath(new URL('./fixtures/p2', import.meta.url));

export function p2VitestConfig(overrides: ViteUserConfig = {}): ViteUserConfig {
  const fastLane = process.env.P2_TEST_LANE === 'fast';
  const base = defineConfig({
    resolve: { alias: workspaceAliases() },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      exclude: ['**/node_modules/**', '**/dist/**', ...(fastLane ? ['**/*.host.test.ts'] : [])],
      reporters: ['default', 'json'],
      outputFile: { json: '.reports/vitest.json' },
      testTimeout: 20_000,
      hookTimeout: 30_000,
      // A package whose tests all touch the host has none in the fast lane; elsewhere no tests is an error.
      passWithNoTests: fastLane,
    },
  });
  return mergeConfig(base, overrides);
}
