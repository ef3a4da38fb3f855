import { P2Error } from '@p2/errors';
import { describe, expect, it } from 'vitest';
import { CliExit, ExitCode } from './exit-code.js';
import {
  asksForMachineOutput,
  emit,
  emitRecord,
  errorJson,
  formatError,
  type Io,
  machineView,
  reportError,
  style,
} from './output.js';

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
  it("machineView: undefined is null, and a table's rows all get every field", () => {
    expect(machineView({ a: undefined, rows: [{ x: 1 }, { y: 2 }] })).toEqual({
      a: null,
      rows: [
        { x: 1, y: null },
        { x: null, y: 2 },
      ],
    });
    // A pod's own config (deeper than a table) is left as it is.
    const config = { rows: [{ config: { servers: [{ host: 'a' }, { host: 'b', port: 1 }] } }] };
    expect(machineView(config)).toEqual(config);
  });

  it('-o yaml prints YAML; a stream record is a JSON line or a YAML document', () => {
    const io = capture();
    emit(io, { output: 'yaml' }, { id: 'web', n: undefined }, () => 'unused');
    expect(io.out).toBe('id: web\nn: null\n');
    io.out = '';
    expect(emitRecord(io, { json: true }, { a: 1 })).toBe(true);
    expect(emitRecord(io, { output: 'yaml', json: true }, { a: 2 })).toBe(true);
    expect(emitRecord(io, {}, { a: 3 })).toBe(false);
    expect(io.out).toBe('{"a":1}\n---\na: 2\n');
    let wide = false;
    emit(io, { output: 'wide' }, {}, (_d, view) => {
      wide = view.wide;
      return '';
    });
    expect(wide).toBe(true);
  });

  it('asksForMachineOutput reads --json and -o json|yaml in any spelling', () => {
    expect(asksForMachineOutput(['x', '--json'])).toBe(true);
    expect(asksForMachineOutput(['-o', 'yaml'])).toBe(true);
    expect(asksForMachineOutput(['--output=json'])).toBe(true);
    expect(asksForMachineOutput(['-oyaml'])).toBe(true);
    expect(asksForMachineOutput(['-o', 'wide'])).toBe(false);
    expect(asksForMachineOutput(['--old', 'json'])).toBe(false);
  });

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
