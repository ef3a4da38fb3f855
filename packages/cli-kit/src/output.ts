/**
 * One code path for both views (STYLE.md §11): a command computes its data once, then either prints
 * it as JSON (`--json`) or renders it for people. Colour only on a TTY, and never with NO_COLOR.
 */
import { createInterface } from 'node:readline/promises';
import { isatty } from 'node:tty';
import { P2Error } from '@p2/errors';
import { createColors } from 'picocolors';
import { stringify as yamlStringify } from 'yaml';
import { CliExit, ExitCode } from './exit-code.js';

/** What `-o, --output` may ask for: the same data as JSON or YAML, or the table with more columns. */
export const OUTPUT_FORMATS = ['json', 'yaml', 'wide'] as const;

/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The options every command with `--json` has (`-o` is added by {@link withOutputFormats}). */
export interface OutputOptions {
  json?: boolean;
  output?: OutputFormat;
}

/** How the human view of {@link emit} is asked for. */
export interface View {
  /** `-o wide`: the table with its extra columns. */
  wide: boolean;
}

/** Where a command writes; tests pass their own to capture it. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether people read stdout: colour and progress only then. */
  isTTY: boolean;
  /** Asks a person and resolves with the answer; absent when nobody is there to ask (a script). */
  ask?: (question: string) => Promise<string>;
}

/** Asks on the terminal: the question on stderr, the answer from stdin. */
async function askOnTerminal(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/**
 * The process's own streams; `isTTY` is false when stdout is piped or NO_COLOR is set; `ask` only
 * when stdin and stderr are a terminal.
 */
export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  // isatty, not process.stdin: creating the stdin stream here would touch what `p2 exec` hands on.
  ...(isatty(0) && isatty(2) ? { ask: askOnTerminal } : {}),
};

/**
 * Makes a person confirm a step that cannot be undone, unless `yes` (`--yes`) says it is meant.
 * A script (nobody to ask) must pass `--yes`.
 *
 * @throws CliExit {@link ExitCode.USAGE} without `yes` and without a terminal to ask on;
 *   {@link ExitCode.FAILURE} when the answer is not yes
 * @example await confirm(ctx.io, 'delete the reality of 3 pods on h1?', { yes: options.yes })
 */
export async function confirm(io: Io, question: string, options: { yes?: boolean }): Promise<void> {
  if (options.yes) return;
  if (!io.ask)
    throw new CliExit(
      ExitCode.USAGE,
      `error: ${question.replace(/\?$/, '')}: nobody to confirm it here\nhint: pass --yes to confirm it in a script`,
    );
  const answer = (await io.ask(`${question} [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes')
    throw new CliExit(ExitCode.FAILURE, 'error: not confirmed; nothing was changed');
}

/**
 * The data as scripts get it: every property that is `undefined` becomes `null`, and the objects of
 * a table — an array that is the data, or a property of the data — all get every property any of
 * them has (`null` where a row has none), so a field is never missing from one row and present in
 * another. Deeper arrays are left as they are: they may be a pod's own config.
 */
export function machineView(data: unknown, depth = 0): unknown {
  if (Array.isArray(data)) {
    const rows = data.map((row) => machineView(row, depth + 1));
    const plain = rows.filter(isPlainObject);
    if (depth > 1 || plain.length < 2 || plain.length !== rows.length) return rows;
    const keys = [...new Set(plain.flatMap((row) => Object.keys(row)))];
    return plain.map((row) => Object.fromEntries(keys.map((key) => [key, row[key] ?? null])));
  }
  if (!isPlainObject(data)) return data === undefined ? null : data;
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, machineView(value, depth + 1)]),
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The machine format asked for, if any: `-o yaml`, else `--json` / `-o json`. */
function machineFormat(options: OutputOptions): 'json' | 'yaml' | undefined {
  if (options.output === 'yaml') return 'yaml';
  return options.json || options.output === 'json' ? 'json' : undefined;
}

function serialize(data: unknown, format: 'json' | 'yaml', pretty: boolean): string {
  const plain = machineView(JSON.parse(JSON.stringify(data ?? null, bigints)) as unknown);
  if (format === 'yaml') return yamlStringify(plain, { lineWidth: 0 });
  return `${JSON.stringify(plain, null, pretty ? 2 : undefined)}\n`;
}

/** `JSON.stringify`'s replacer: a property set to `undefined` stays, as `null`; bigints as text. */
const bigints = (_key: string, value: unknown) =>
  value === undefined ? null : typeof value === 'bigint' ? value.toString() : value;

/**
 * Prints `data` as JSON (`--json`, `-o json`) or YAML (`-o yaml`) when asked — both through
 * {@link machineView}, so unknown fields are `null` — else the human rendering of the same data (a
 * newline is added when it lacks one; an empty rendering prints nothing), told whether `-o wide`
 * asked for more columns.
 *
 * @example emit(io, { json: false }, { id: 'web' }, (pod) => `pod ${pod.id}`) // prints "pod web\n"
 */
export function emit<T>(
  io: Io,
  options: OutputOptions,
  data: T,
  human: (data: T, view: View) => string,
): void {
  const format = machineFormat(options);
  if (format) io.stdout(serialize(data, format, true));
  else {
    const text = human(data, { wide: options.output === 'wide' });
    if (text.length > 0) io.stdout(text.endsWith('\n') ? text : `${text}\n`);
  }
}

/**
 * One record of a stream (`watch`, `logs -f`) as scripts get it: a JSON line, or under `-o yaml` a
 * YAML document starting with `---`; undefined when no machine format was asked.
 *
 * @example formatRecord({ json: true }, { state: 'done' }) // '{"state":"done"}\n'
 */
export function formatRecord(options: OutputOptions, data: unknown): string | undefined {
  const format = machineFormat(options);
  if (!format) return undefined;
  return format === 'yaml'
    ? `---\n${serialize(data, 'yaml', true)}`
    : serialize(data, 'json', false);
}

/**
 * Prints {@link formatRecord}'s text and returns true, or prints nothing and returns false when no
 * machine format was asked.
 *
 * @example if (!emitRecord(io, options, line)) io.stdout(render(line))
 */
export function emitRecord(io: Io, options: OutputOptions, data: unknown): boolean {
  const text = formatRecord(options, data);
  if (text !== undefined) io.stdout(text);
  return text !== undefined;
}

const ansi = createColors(true);
const when =
  (paint: (text: string) => string) =>
  (io: Io, text: string): string =>
    io.isTTY ? paint(text) : text;

/** Colours for people: each returns `text` unchanged unless `io` is a TTY. */
export const style = {
  bold: when(ansi.bold),
  red: when(ansi.red),
  green: when(ansi.green),
  yellow: when(ansi.yellow),
  dim: when(ansi.dim),
};

/** How {@link formatError} starts and ends the line. */
export interface FormatErrorOptions {
  /** What the line starts with: `error` (red on a TTY `io`), or the binary's name. */
  readonly label: string;
  /** Whether the code follows the message in brackets (dimmed on a TTY `io`). @default true */
  readonly showCode?: boolean;
  /** Colours come from here; without it, none. */
  readonly io?: Io;
}

/**
 * An error for people: `<label>: <message> (<code>)`, then `hint: …` when the error has one.
 *
 * @example formatError(new P2Error('P2_X', 'boom', { hint: 'retry' }), { label: 'p2-bootstrap' }) // 'p2-bootstrap: boom (P2_X)\nhint: retry\n'
 */
export function formatError(error: unknown, options: FormatErrorOptions): string {
  const io = options.io ?? { ...processIo, isTTY: false };
  const label = style.red(io, options.label);
  if (!(error instanceof P2Error))
    return `${label}: ${error instanceof Error ? error.message : String(error)}\n`;
  const code = options.showCode === false ? '' : ` ${style.dim(io, `(${error.code})`)}`;
  return `${label}: ${error.message}${code}\n${error.hint ? `hint: ${error.hint}\n` : ''}`;
}

/**
 * The `--json` form of an error: `{ "error": { name, code, message, hint?, details? } }`.
 *
 * @example errorJson(new P2Error('P2_X', 'boom')) // '{\n  "error": {\n    "name": "P2Error", …'
 */
export function errorJson(error: unknown): string {
  const body =
    error instanceof P2Error ? error.toJSON() : { name: 'Error', message: String(error) };
  return `${JSON.stringify({ error: body }, null, 2)}\n`;
}

const CLI_ERROR_CODES: Record<number, string> = {
  [ExitCode.FAILURE]: 'P2_CLI_FAILED',
  [ExitCode.USAGE]: 'P2_CLI_USAGE',
  [ExitCode.INVALID_INPUT]: 'P2_CLI_INVALID_INPUT',
  [ExitCode.NOT_FOUND]: 'P2_CLI_NOT_FOUND',
  [ExitCode.DENIED]: 'P2_CLI_DENIED',
};

/**
 * The `--json` form of a {@link CliExit} (its message's `error: ` dropped, `hint: ` lines as `hint`),
 * with the `P2_CLI_*` code of its exit code: what {@link reportError} prints on stdout.
 *
 * @example cliExitJson(new CliExit(ExitCode.USAGE, "error: missing required argument 'id'"))
 */
export function cliExitJson(error: CliExit): string {
  const [first = '', ...rest] = error.message.split('\n');
  const hint = rest.find((line) => line.startsWith('hint: '))?.slice('hint: '.length);
  const detail = rest.filter((line) => line !== '' && !line.startsWith('hint: ')).join('\n');
  const body = {
    name: 'CliExit',
    code: CLI_ERROR_CODES[error.exitCode] ?? 'P2_CLI_FAILED',
    message: `${first.replace(/^error: /, '')}${detail ? `\n${detail}` : ''}`,
    ...(hint ? { hint } : {}),
  };
  return `${JSON.stringify({ error: body }, null, 2)}\n`;
}

/**
 * `p2`'s one error path: prints any error for people on stderr — or, with `--json`, as JSON on
 * stdout (a {@link CliExit} on both, with a `P2_CLI_*` code) — and returns the exit code to use.
 *
 * @example ctx.setExitCode(reportError(io, options, error, exitCodeFor(error)))
 */
export function reportError(
  io: Io,
  options: OutputOptions,
  error: unknown,
  exitCode: ExitCode,
): ExitCode {
  if (error instanceof CliExit) {
    if (error.message) io.stderr(`${error.message}\n`);
    // Scripts reading --json get the failure on stdout too, in the same shape as P2Errors.
    if (options.json) io.stdout(cliExitJson(error));
    return error.exitCode;
  }
  if (options.json) io.stdout(errorJson(error));
  else io.stderr(formatError(error, { label: 'error', io }));
  return exitCode;
}

/**
 * Whether argv asks for a machine format (`--json`, `-o json|yaml`, `--output=…`): for errors
 * reported before any command has parsed its options.
 */
export function asksForMachineOutput(argv: readonly string[]): boolean {
  return argv.some(
    (arg, i) =>
      arg === '--json' ||
      /^--output=(json|yaml)$/.test(arg) ||
      /^-o(json|yaml)$/.test(arg) ||
      ((arg === '-o' || arg === '--output') && /^(json|yaml)$/.test(argv[i + 1] ?? '')),
  );
}
