import { p2StandaloneTsup, p2Tsup } from '../../tsup.base.ts';

// The npm binary (dependencies external), and a standalone single-file bundle that p2-bootstrap
// packs into the preparer's own Hoist artifact (the preparer runs as a pod).
export default [
  p2Tsup({
    entry: ['src/cli.ts'],
    dts: false,
    clean: false,
    banner: { js: '#!/usr/bin/env node' },
  }),
  p2StandaloneTsup('p2-preparer'),
];
