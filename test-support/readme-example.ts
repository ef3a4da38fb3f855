/**
 * Runs a package's README example for its `src/readme.test.ts` (tests only; never published).
 *
 * A README opens with one ```ts block. Its output is given either as `// → value` comments after
 * `console.log(…);` lines (run in this process: {@link runInProcess}), or as a ```text block after
 * the word "prints" (run as a script with tsx: {@link runAsScript}). The tests compare.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** What a README shows: its example and the output it says the example gives. */
export interface ReadmeExample {
  /** The first ```ts block. */
  readonly code: string | undefined;
  /** The values of the block's `console.log(…); // → value` lines, in order. */
  readonly expected: string[];
  /** The ```text block after "prints". */
  readonly shown: string | undefined;
}

/** Reads the example of the README at `readme` (`new URL('../README.md', import.meta.url)`). */
export function readReadmeExample(readme: URL): ReadmeExample {
  const text = readFileSync(readme, 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(text)?.[1];
  return {
    code,
    expected: [...(code ?? '').matchAll(/console\.log\(.*\); \/\/ → (.*)$/gm)].map((m) => m[1]!),
    shown: /prints\n\n```text\n([\s\S]*?)```/.exec(text)?.[1],
  };
}

/** Options of {@link runInProcess}. */
export interface InProcessOptions {
  /**
   * Gives the example a fresh directory as `dataDirForTheExample` (for the store it starts),
   * named `<prefix>…` in the temp dir and removed afterwards.
   */
  readonly dataDirPrefix?: string;
}

/**
 * Runs `code` (its `import` lines dropped) as an async function whose free names are the keys of
 * `scope` — the package's exports and what the example imports from other packages — and returns
 * what it printed: each `console.log` argument as JSON, to compare with `expected`.
 */
export async function runInProcess(
  code: string,
  scope: Record<string, unknown>,
  options: InProcessOptions = {},
): Promise<string[]> {
  const body = code.replace(/^import .*$/gm, '').replace(/console\.log\(/g, 'print(');
  const printed: string[] = [];
  const print = (value: unknown) => printed.push(JSON.stringify(value));
  const AsyncFunction = (async () => undefined).constructor as new (
    ...args: string[]
  ) => (...a: unknown[]) => Promise<void>;
  const prefix = options.dataDirPrefix;
  const dataDir = prefix === undefined ? undefined : await mkdtemp(join(tmpdir(), prefix));
  try {
    const given: Record<string, unknown> = {
      print,
      ...(dataDir === undefined ? {} : { dataDirForTheExample: dataDir }),
      ...scope,
    };
    await new AsyncFunction(...Object.keys(given), body)(...Object.values(given));
  } finally {
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  }
  return printed;
}

/**
 * Writes `code` (after `rewrite`, which gets the temp dir it may use) to an `.mts` file in a temp
 * dir named `<tmpPrefix>…` and runs it with `node --import tsx` from the repository root, so
 * `@p2/*` resolve to source. Returns its stdout.
 */
export async function runAsScript(
  code: string,
  tmpPrefix: string,
  rewrite: (code: string, dir: string) => string = (c) => c,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), tmpPrefix));
  try {
    const script = join(dir, 'example.mts');
    await writeFile(script, rewrite(code, dir));
    const { stdout } = await promisify(execFile)('node', ['--import', 'tsx', script], {
      cwd: repoRoot,
      env: { ...process.env, TSX_TSCONFIG_PATH: join(repoRoot, 'tsconfig.json') },
    });
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The names an example imports (`import { a, b } from '@p2/x';` lines), bound to their values, as
 * a scope for {@link runInProcess}; `self` is the package under test, taken from its source module.
 */
export async function importScope(
  code: string,
  self: { name: string; module: Record<string, unknown> },
): Promise<Record<string, unknown>> {
  const scope: Record<string, unknown> = {};
  for (const [, names, from] of code.matchAll(/^import \{ (.*) \} from '(.*)';$/gm)) {
    const module =
      from === self.name ? self.module : ((await import(from!)) as Record<string, unknown>);
    for (const name of names!.split(', ')) scope[name] = module[name];
  }
  return scope;
}
