/**
 * `p2-log-bridge [options] [--] EXEC…`: `p2 log-bridge` under P2's binary name, for `log_exec`
 * lines written for P2. It loads only the bridge (one runs per service), not the whole `p2`.
 */
import { Command } from '@commander-js/extra-typings';
import { runProgram } from '@p2/cli-kit';
import { defineLogBridge } from './commands/log-bridge/index.js';

runProgram((ctx) => {
  const program = new Command('p2-log-bridge')
    .configureOutput({ writeOut: (s) => ctx.io.stdout(s), writeErr: (s) => ctx.io.stderr(s) })
    .exitOverride();
  defineLogBridge(program, ctx);
  return program;
}, process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
