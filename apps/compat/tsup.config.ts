import { p2Tsup } from '../../tsup.base.ts';

const BINARIES = ['p2-schedule', 'p2-rm', 'p2-inspect', 'p2-label', 'p2-launch'];

export default p2Tsup({
  entry: Object.fromEntries(BINARIES.map((name) => [name, `src/${name}.ts`])),
  dts: false,
  banner: { js: '#!/usr/bin/env node' },
});
