import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));

describe('the built p2 binary', () => {
  it('prints its help and exits 0', async () => {
    const { stdout } = await run('node', [`${repo}apps/client/dist/cli.js`, '--help']);
    expect(stdout).toContain('Usage: p2');
    expect(stdout).toContain('manifest');
  });
});
