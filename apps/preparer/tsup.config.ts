import { p2Tsup } from '../../tsup.base.ts';

// Two outputs: the npm binary (dependencies external), and a standalone single-file bundle that
// p2-bootstrap packs into the preparer's own Hoist artifact (the preparer runs as a pod).
export default [
  p2Tsup({
    entry: ['src/cli.ts'],
    dts: false,
    clean: false,
    banner: { js: '#!/usr/bin/env node' },
  }),
  p2Tsup({
    entry: { 'p2-preparer': 'src/cli.ts' },
    outDir: 'dist/standalone',
    dts: false,
    clean: false,
    noExternal: [/.*/],
    sourcemap: false,
    banner: {
      js: "import { createRequire as __p2CreateRequire } from 'node:module'; const require = __p2CreateRequire(import.meta.url);",
    },
  }),
];
