/** `p2 log-bridge` refuses what cannot work before it reads a byte. */
import { ExitCode } from '@p2/cli-kit';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture } from '../../test-support.js';

describe('p2 log-bridge', () => {
  it('refuses limits that are not positive whole numbers, naming the flag', async () => {
    const io = capture();
    expect(await runCli(['log-bridge', '--lines-per-second', '0', '--', 'cat'], { io })).toBe(
      ExitCode.USAGE,
    );
    expect(io.err).toMatch(
      /--lines-per-second <n>' argument '0' is invalid. It must be a whole number ≥ 1/,
    );
  });

  it('refuses a lossy destination it does not know, and a format', async () => {
    const io = capture();
    expect(
      await runCli(['log-bridge', '--lossy-to', 'tcp:127.0.0.1:9000', 'cat'], { io }),
    ).not.toBe(ExitCode.OK);
    expect(io.err).toContain('is not none, stdout or unix:/absolute/path');
    const json = capture();
    await runCli(['log-bridge', '--json', '--lossy-to', 'unix:relative.sock', 'cat'], { io: json });
    expect(JSON.parse(json.out)).toMatchObject({ error: { code: 'P2_LOGS_INVALID_OPTIONS' } });
    const format = capture();
    expect(await runCli(['log-bridge', '--format', 'xml', 'cat'], { io: format })).toBe(
      ExitCode.USAGE,
    );
  });

  it("leaves the log command's own options to it (P2's form: p2-log-bridge svlogd -tt ./main)", async () => {
    const io = capture();
    expect(await runCli(['log-bridge', '--help'], { io })).toBe(ExitCode.OK);
    expect(io.out).toContain('--lossy-to <dest>');
    expect(io.out).toContain('--lines-per-second <n>');
  });
});
