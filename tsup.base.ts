/** Shared tsup settings: ESM + .d.ts for Node 20. Workspace deps stay external and resolve to their dist types. */
import { defineConfig, type Options } from 'tsup';

export function p2Tsup(options: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: { compilerOptions: { paths: {} } },
    sourcemap: true,
    clean: true,
    splitting: false,
    ...options,
  });
}
