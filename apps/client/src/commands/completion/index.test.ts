import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture } from '../../test-support.js';

const exec = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-completion-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(shell: string): Promise<string> {
  const io = capture();
  expect(await runCli(['completion', shell], { io })).toBe(ExitCode.OK);
  const file = join(dir, `p2.${shell}`);
  await writeFile(file, io.out);
  return file;
}

/** What bash offers for the words typed so far (the last one being completed). */
async function complete(file: string, ...words: string[]): Promise<string[]> {
  const { stdout } = await exec('bash', [
    '-c',
    `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _p2_completion; printf '%s\\n' "\${COMPREPLY[@]}"`,
    'p2t',
    file,
    'p2',
    ...words,
  ]);
  return stdout.split('\n').filter((w) => w !== '');
}

describe('p2 completion', () => {
  it('prints bash and zsh scripts that bash parses (bash -n)', async () => {
    for (const shell of ['bash', 'zsh']) await exec('bash', ['-n', await script(shell)]);
  });

  it('completes commands, subcommands and long flags from the program in bash', async () => {
    const file = await script('bash');
    expect(await complete(file, 'ro')).toEqual(['rollback', 'roll']);
    expect(await complete(file, 'rc', 'cr')).toEqual(['create']);
    expect(await complete(file, 'roll', 'start', '--mi')).toEqual(['--minimum']);
    // A flag's value is not a command: still completing `rc create`'s flags.
    expect(await complete(file, 'rc', 'create', '-m', 'x.yaml', '--node-s')).toEqual([
      '--node-selector',
    ]);
    expect(await complete(file, '--v')).toEqual(['--version']);
  });

  it('prints fish completions for each command and long flag', async () => {
    const io = capture();
    expect(await runCli(['completion', 'fish'], { io })).toBe(ExitCode.OK);
    expect(io.out).toContain('complete -c p2 -n \'test (__p2_path) = "/roll/start"\' -l minimum');
    expect(io.out).toMatch(/-a completion -d 'Print a shell completion script/);
  });

  it('refuses another shell with the usage exit code', async () => {
    const io = capture();
    expect(await runCli(['completion', 'tcsh'], { io })).toBe(ExitCode.USAGE);
    expect(io.err).toContain('Allowed choices are bash, zsh, fish');
  });
});
