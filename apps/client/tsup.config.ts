import { p2Tsup } from '../../tsup.base.ts';

export default p2Tsup({
  entry: ['src/cli.ts', 'src/log-bridge-cli.ts'],
  dts: false,
  banner: { js: '#!/usr/bin/env node' },
});
