import { Command } from '@commander-js/extra-typings';
import { describe, expect, it } from 'vitest';
import { ExitCode } from './exit-code.js';
import type { Io } from './output.js';
import { type CliContext, run, runProgram } from './run.js';

function capture(): Io & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    isTTY: false,
    stdout: (s: string) => {
      io.out += s;
    },
    stderr: (s: string) => {
      io.err += s;
    },
  };
  return io;
}

const build = (ctx: CliContext) => {
  const program = new Command('p2t')
    .configureOutput({ writeOut: (s) => ctx.io.stdout(s), writeErr: (s) => ctx.io.stderr(s) })
    .exitOverride();
  program
    .command('fail')
    .option('--json')
    .action(
      run(ctx, async () => {
        throw new Error('boom');
      }),
    );
  program.command('ok').action(run(ctx, async () => ExitCode.NOT_FOUND));
  return program;
};

describe('runProgram', () => {
  it("returns the command's exit code, 0 for --help and USAGE for what commander refuses", async () => {
    const io = capture();
    expect(await runProgram(build, ['ok'], { io })).toBe(ExitCode.NOT_FOUND);
    expect(await runProgram(build, ['fail'], { io })).toBe(ExitCode.FAILURE);
    expect(io.err).toContain('boom');
    expect(await runProgram(build, ['--help'], { io })).toBe(ExitCode.OK);
    expect(io.out).toContain('Usage: p2t');
    expect(await runProgram(build, ['nosuch'], { io })).toBe(ExitCode.USAGE);
    expect(io.err).toContain("unknown command 'nosuch'");
  });

  it('with --json, also prints what commander refused as a P2_CLI_USAGE error on stdout', async () => {
    const io = capture();
    expect(await runProgram(build, ['fail', '--json', '--nope'], { io })).toBe(ExitCode.USAGE);
    expect(io.err).toContain("unknown option '--nope'");
    expect(JSON.parse(io.out)).toEqual({
      error: { name: 'CliExit', code: 'P2_CLI_USAGE', message: "unknown option '--nope'" },
    });
    const plain = capture();
    expect(await runProgram(build, ['fail', '--nope'], { io: plain })).toBe(ExitCode.USAGE);
    expect(plain.out).toBe('');
    const afterDashes = capture();
    await runProgram(build, ['fail', '--nope', '--', '--json'], { io: afterDashes });
    expect(afterDashes.out).toBe('');
  });
});
