/**
 * Plumbing shared by every command: running a command body with one error path, the store flags
 * (spec 03 §0.3: `--store`/`P2_STORE`, `--token`/`CONSUL_HTTP_TOKEN`, then p2's token file), the
 * node default and reading manifest files.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { P2Error } from '@p2/errors';
import {
  createStore,
  DEFAULT_TOKEN_FILE,
  defaultStoreUrl,
  explainDenied,
  findStoreToken,
  type Store,
  TOKEN_FILE_ENV,
} from '@p2/kv';
import { lintManifest, type Manifest, parseGoDuration, parseManifest } from '@p2/manifest';
import type { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { CliExit, type OutputOptions, reportError } from '../output.js';
import type { ProgramContext } from '../program.js';

/** The local p2-kv-server, where `p2-bootstrap` puts the store. */
/** The store without `--store`/`P2_STORE`: the local embedded store (HTTPS when bootstrapped). */
const DEFAULT_STORE = 'consul://127.0.0.1:8500 (consul+https with /etc/p2/tls/kv.pem when present)';

export interface StoreFlags {
  store?: string;
  token?: string;
}

/** The exit code for an error that escaped a command: invalid input vs. an operation that failed. */
function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof CliExit) return error.exitCode;
  if (!(error instanceof P2Error)) return ExitCode.FAILURE;
  const code = error.code;
  if (code.startsWith('P2_MANIFEST_')) return ExitCode.INVALID_INPUT;
  if (code === 'P2_LABELS_STORE' || code === 'P2_LABELS_CAS_CONFLICT') return ExitCode.FAILURE;
  if (code.startsWith('P2_LABELS_')) return ExitCode.INVALID_INPUT;
  if (code.startsWith('P2_AUTH_')) return ExitCode.INVALID_INPUT;
  if (code === 'P2_RC_NOT_FOUND') return ExitCode.NOT_FOUND;
  if (
    code === 'P2_RC_INVALID_REQUEST' ||
    code === 'P2_RC_HAS_REPLICAS' ||
    code === 'P2_RC_ROLL_CONFLICT'
  )
    return ExitCode.INVALID_INPUT;
  if (code === 'P2_KV_INVALID_KEY' || code === 'P2_KV_VALUE_TOO_LARGE')
    return ExitCode.INVALID_INPUT;
  if (code === 'P2_KV_UNSUPPORTED_BACKEND' || code === 'P2_KV_BAD_OPTIONS') return ExitCode.USAGE;
  if (code === 'P2_KV_PERMISSION_DENIED' || code === 'P2_KV_TOKEN_FILE_UNSAFE')
    return ExitCode.DENIED;
  return ExitCode.FAILURE;
}

/**
 * A command's action: `body` gets commander's arguments (the positional ones, then the options); a
 * body that returns no exit code succeeded, and any error it throws is reported once (human or
 * JSON) and mapped to an exit code.
 *
 * @example command.action(run(ctx, async (id: string, options: Options) => { … }))
 */
export function run<Args extends unknown[]>(
  ctx: ProgramContext,
  body: (...args: Args) => Promise<ExitCode | undefined> | Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    const options: OutputOptions = (args.at(-1) as Command).opts();
    try {
      ctx.setExitCode((await body(...(args as Args))) ?? ExitCode.OK);
    } catch (error) {
      ctx.setExitCode(reportError(ctx.io, options, error, exitCodeFor(error)));
    }
  };
}

/** Adds `--store`, `--token` to a command. */
export function withStoreFlags(command: Command): Command {
  return command
    .option('--store <url>', `store URL (env P2_STORE; default ${DEFAULT_STORE})`)
    .option(
      '--token <token>',
      `ACL token (env CONSUL_HTTP_TOKEN; else read from ${TOKEN_FILE_ENV} or ${DEFAULT_TOKEN_FILE})`,
    );
}

/** The store URL a command talks to: `--store`, else `P2_STORE`, else the local kv-server. */
function storeUrl(ctx: ProgramContext, flags: StoreFlags): string {
  return flags.store ?? ctx.env.P2_STORE ?? defaultStoreUrl();
}

/**
 * Opens the store, runs `fn`, and always closes it. The ACL token is `--token`, else
 * `CONSUL_HTTP_TOKEN`, else the token file `p2-bootstrap` wrote (`P2_TOKEN_FILE`, else
 * `/etc/p2/consul.token`; readable by root only). A 403 from the store becomes an error that says
 * which token was sent and where p2 looked (exit code {@link ExitCode.DENIED}).
 */
export async function withStore<T>(
  ctx: ProgramContext,
  flags: StoreFlags,
  fn: (store: Store) => Promise<T>,
): Promise<T> {
  const found = await findStoreToken({ flag: flags.token, env: ctx.env });
  const store = createStore(storeUrl(ctx, flags), found.token ? { token: found.token } : {});
  try {
    return await fn(store);
  } catch (error) {
    throw explainDenied(error, found);
  } finally {
    await store.close();
  }
}

/** `--node`, else this host's name (as P2's tools defaulted). */
export function nodeName(flag: string | undefined): string {
  return flag ?? hostname();
}

/** Reads a file, turning the usual failures into clear exits (`what` names it for a directory). */
export async function readInputFile(
  ctx: ProgramContext,
  file: string,
  what = 'file',
): Promise<Buffer> {
  try {
    return await readFile(resolve(ctx.cwd, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliExit(ExitCode.NOT_FOUND, `error: no such file: ${file}`);
    if (code === 'EISDIR')
      throw new CliExit(ExitCode.INVALID_INPUT, `error: ${file} is a directory, not a ${what}`);
    throw new CliExit(ExitCode.FAILURE, `error: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Reads and parses a manifest file (plain or clearsigned); with `strict`, lint errors refuse it. */
export async function loadManifest(
  ctx: ProgramContext,
  file: string,
  options: { strict?: boolean } = {},
): Promise<Manifest> {
  const manifest = parseManifest(await readInputFile(ctx, file), { source: file });
  if (options.strict) {
    const { errors } = lintManifest(manifest);
    if (errors.length > 0) {
      const lines = errors.map((e) => `  ${e.path}: ${e.message}`).join('\n');
      throw new CliExit(
        ExitCode.INVALID_INPUT,
        `error: ${file} is not a valid pod manifest:\n${lines}\nhint: run \`p2 manifest check ${file}\` for details`,
      );
    }
  }
  return manifest;
}

/** Parses `K=V` arguments. */
export function parseAssignments(items: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0)
      throw new CliExit(
        ExitCode.USAGE,
        `error: expected ${what} as KEY=VALUE, got ${JSON.stringify(item)}`,
      );
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

/** Parses a whole number ≥ `min` from a flag, or exits with a usage error naming the flag. */
export function wholeNumber(value: string, flag: string, min = 0): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new CliExit(
      ExitCode.USAGE,
      `error: ${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Parses a Go-style duration (`90s`, `2m`, `1h30m`) or plain milliseconds. */
export function durationMs(value: string, flag: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const ms = parseGoDuration(value);
  if (ms === undefined || ms < 0) {
    throw new CliExit(
      ExitCode.USAGE,
      `error: ${flag} must be a duration like 90s, 2m or 1h30m, got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
