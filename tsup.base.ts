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

/**
 * A single-file bundle of a binary with every dependency inlined (`dist/standalone/<name>.js`), for
 * packing into a Hoist artifact that runs with nothing but Node (see p2-bootstrap).
 */
export function p2StandaloneTsup(name: string, entry = 'src/cli.ts') {
  return p2Tsup({
    entry: { [name]: entry },
    outDir: 'dist/standalone',
    dts: false,
    clean: false,
    noExternal: [/.*/],
    sourcemap: false,
    banner: {
      js: "import { createRequire as __p2CreateRequire } from 'node:module'; const require = __p2CreateRequire(import.meta.url);",
    },
  });
}
