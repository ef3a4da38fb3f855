/**
 * One code path for both views (STYLE.md §11): a command computes its data once, then either prints
 * it as JSON (`--json`) or renders it for people. Colour only on a TTY, and never with NO_COLOR.
 */
import { P2Error } from '@p2/errors';
import { ExitCode } from './exit-codes.js';

export interface OutputOptions {
  json?: boolean;
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  isTTY: boolean;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
};

/** Prints `data` as JSON when asked, else the human rendering of the same data. */
export function emit<T>(io: Io, options: OutputOptions, data: T, human: (data: T) => string): void {
  if (options.json) io.stdout(`${JSON.stringify(data, null, 2)}\n`);
  else {
    const text = human(data);
    if (text.length > 0) io.stdout(text.endsWith('\n') ? text : `${text}\n`);
  }
}

export const style = {
  bold: (io: Io, s: string) => (io.isTTY ? `\u001b[1m${s}\u001b[22m` : s),
  red: (io: Io, s: string) => (io.isTTY ? `\u001b[31m${s}\u001b[39m` : s),
  green: (io: Io, s: string) => (io.isTTY ? `\u001b[32m${s}\u001b[39m` : s),
  yellow: (io: Io, s: string) => (io.isTTY ? `\u001b[33m${s}\u001b[39m` : s),
  dim: (io: Io, s: string) => (io.isTTY ? `\u001b[2m${s}\u001b[22m` : s),
};

/** Thrown by commands to end with a specific exit code after printing an error. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message = '',
  ) {
    super(message);
    this.name = 'CliExit';
  }
}

const CLI_ERROR_CODES: Record<number, string> = {
  [ExitCode.FAILURE]: 'P2_CLI_FAILED',
  [ExitCode.USAGE]: 'P2_CLI_USAGE',
  [ExitCode.INVALID_INPUT]: 'P2_CLI_INVALID_INPUT',
  [ExitCode.NOT_FOUND]: 'P2_CLI_NOT_FOUND',
  [ExitCode.DENIED]: 'P2_CLI_DENIED',
};

/** Renders any error for people (or as JSON) and returns the exit code to use. */
export function reportError(
  io: Io,
  options: OutputOptions,
  error: unknown,
  exitCode: ExitCode,
): ExitCode {
  if (error instanceof CliExit) {
    if (error.message) io.stderr(`${error.message}\n`);
    if (options.json) {
      // Scripts reading --json get the failure on stdout too, in the same shape as P2Errors.
      const [first = '', ...rest] = error.message.split('\n');
      const hint = rest.find((line) => line.startsWith('hint: '))?.slice('hint: '.length);
      const detail = rest.filter((line) => !line.startsWith('hint: ')).join('\n');
      const body = {
        name: 'CliExit',
        code: CLI_ERROR_CODES[error.exitCode] ?? 'P2_CLI_FAILED',
        message: `${first.replace(/^error: /, '')}${detail ? `\n${detail}` : ''}`,
        ...(hint ? { hint } : {}),
      };
      io.stdout(`${JSON.stringify({ error: body }, null, 2)}\n`);
    }
    return error.exitCode;
  }
  if (options.json) {
    const body =
      error instanceof P2Error ? error.toJSON() : { name: 'Error', message: String(error) };
    io.stdout(`${JSON.stringify({ error: body }, null, 2)}\n`);
  } else if (error instanceof P2Error) {
    io.stderr(`${style.red(io, 'error')}: ${error.message} ${style.dim(io, `(${error.code})`)}\n`);
    if (error.hint) io.stderr(`hint: ${error.hint}\n`);
  } else {
    io.stderr(
      `${style.red(io, 'error')}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
  return exitCode;
}
