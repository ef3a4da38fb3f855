import { p2Tsup } from '../../tsup.base.ts';

export default p2Tsup({
  entry: ['src/cli.ts'],
  dts: false,
  clean: false,
  banner: { js: '#!/usr/bin/env node' },
});
