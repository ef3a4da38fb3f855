import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Command } from '@commander-js/extra-typings';
import { describe, expect, it } from 'vitest';
import { completionScript } from './completion.js';

const program = () => {
  const p = new Command('p2t').option('--verbose', "it's loud");
  p.command('get').description("reads a key, doesn't write").option('-r, --raw', 'raw bytes');
  p.command('secret').option('--hidden-one').helpCommand(false);
  return p;
};

describe('completionScript', () => {
  it('writes a bash script bash parses, with each command and its long flags', async () => {
    const script = completionScript(program(), 'bash');
    await promisify(execFile)('bash', ['-n', '-c', script]);
    expect(script).toContain('"/get") words="--raw --help"');
    expect(script).toContain('complete -o default -F _p2t_completion p2t');
  });

  it("quotes fish descriptions (a ' in one stays inside it)", () => {
    const script = completionScript(program(), 'fish');
    expect(script).toContain("-a get -d 'reads a key, doesn\\'t write'");
    expect(script).toContain("-l verbose -d 'it\\'s loud'");
  });
});
