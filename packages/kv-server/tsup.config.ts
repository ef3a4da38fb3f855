import { p2StandaloneTsup, p2Tsup } from '../../tsup.base.ts';

// The library and binary, plus a standalone single-file bundle of the binary that p2-bootstrap
// packs into the store's own Hoist artifact (the store runs as a pod).
export default [
  p2Tsup({ entry: ['src/index.ts', 'src/cli.ts'], clean: false }),
  p2StandaloneTsup('p2-kv-server'),
];
