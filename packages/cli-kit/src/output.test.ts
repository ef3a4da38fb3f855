import { P2Error } from '@p2/errors';
import { describe, expect, it } from 'vitest';
import { CliExit, ExitCode } from './exit-code.js';
import { emit, errorJson, formatError, type Io, reportError, style } from './output.js';

function capture(isTTY = false): Io & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    isTTY,
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
  };
  return io;
}

const denied = new P2Error('P2_KV_PERMISSION_DENIED', 'refused', { hint: 'pass --token' });

describe('output', () => {
  it('emit prints the same data as JSON or for people', () => {
    const io = capture();
    emit(io, { json: true }, { id: 'web' }, () => 'unused');
    emit(io, {}, { id: 'web' }, (p) => `pod ${p.id}`);
    emit(io, {}, [], () => '');
    expect(io.out).toBe('{\n  "id": "web"\n}\npod web\n');
  });

  it('colours only on a TTY', () => {
    expect(style.green(capture(true), 'ok')).toBe('\u001b[32mok\u001b[39m');
    expect(style.bold(capture(true), 'ok')).toBe('\u001b[1mok\u001b[22m');
    expect(style.green(capture(false), 'ok')).toBe('ok');
  });

  it("formatError: each binary's first line, the code, the hint", () => {
    expect(formatError(denied, { label: 'p2-bootstrap' })).toBe(
      'p2-bootstrap: refused (P2_KV_PERMISSION_DENIED)\nhint: pass --token\n',
    );
    expect(formatError(denied, { label: 'p2-preparer', showCode: false })).toBe(
      'p2-preparer: refused\nhint: pass --token\n',
    );
    expect(formatError(denied, { label: 'error', io: capture(true) })).toBe(
      '\u001b[31merror\u001b[39m: refused \u001b[2m(P2_KV_PERMISSION_DENIED)\u001b[22m\nhint: pass --token\n',
    );
    expect(formatError(new Error('boom'), { label: 'error' })).toBe('error: boom\n');
  });

  it('reportError: stderr for people, stdout JSON with --json; a CliExit on both', () => {
    const io = capture();
    expect(reportError(io, {}, denied, ExitCode.DENIED)).toBe(ExitCode.DENIED);
    expect(io.err).toBe('error: refused (P2_KV_PERMISSION_DENIED)\nhint: pass --token\n');
    const json = capture();
    reportError(json, { json: true }, denied, ExitCode.DENIED);
    expect(json.out).toBe(errorJson(denied));
    expect(JSON.parse(json.out).error).toMatchObject({ code: 'P2_KV_PERMISSION_DENIED' });
    const exit = capture();
    const cli = new CliExit(ExitCode.NOT_FOUND, 'error: no such file: a\nhint: look');
    expect(reportError(exit, { json: true }, cli, ExitCode.FAILURE)).toBe(ExitCode.NOT_FOUND);
    expect(exit.err).toBe('error: no such file: a\nhint: look\n');
    expect(JSON.parse(exit.out).error).toEqual({
      name: 'CliExit',
      code: 'P2_CLI_NOT_FOUND',
      message: 'no such file: a',
      hint: 'look',
    });
  });
});
