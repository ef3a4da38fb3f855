/**
 * Contexts, as kubectl has them: named stores in `~/.config/p2/config.yaml` (store URL, token file,
 * TLS files), one of them current. A person who works with several stores names them once, then
 * `p2 context use prod` instead of passing `--store`, `--token-file` and `--ca-file` each time.
 *
 * The file says where p2 sends its token, so it is trusted as a token file is: it must belong to
 * the user running p2 (or root) and be writable by nobody else, and so must its directory. Running
 * as root, only root's own file is read.
 */
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Document, isMap, isScalar, parseDocument } from 'yaml';
import { CliExit, ExitCode } from './exit-code.js';

/** One named store. Paths are absolute once read (relative ones are taken from the file's directory). */
export interface StoreContext {
  name: string;
  /** Store URL, as `--store` takes it. */
  store: string;
  tokenFile?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** The contexts file, read. */
export interface ContextConfig {
  /** Where it is (it may not exist yet). */
  path: string;
  /** The current context's name, if one is set. */
  current?: string;
  contexts: StoreContext[];
}

/** The keys a context may have (the file's spelling) and the field each fills. */
const CONTEXT_KEYS = {
  store: 'store',
  'token-file': 'tokenFile',
  'ca-file': 'caFile',
  'cert-file': 'certFile',
  'key-file': 'keyFile',
} as const satisfies Record<string, keyof StoreContext>;

type FileKey = keyof typeof CONTEXT_KEYS;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Where the contexts file is: `P2_CONFIG`, else `$XDG_CONFIG_HOME/p2/config.yaml`, else
 * `~/.config/p2/config.yaml`.
 *
 * @example contextFilePath({ HOME: '/home/ops' }) // '/home/ops/.config/p2/config.yaml'
 */
export function contextFilePath(env: NodeJS.ProcessEnv): string {
  if (env.P2_CONFIG) return resolve(env.P2_CONFIG);
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'p2', 'config.yaml');
}

/** @throws CliExit {@link ExitCode.USAGE} for a name a context cannot have */
export function checkContextName(name: string): string {
  if (!NAME.test(name))
    throw new CliExit(
      ExitCode.USAGE,
      `error: ${JSON.stringify(name)} is not a context name\nhint: letters, digits, '.', '_' and '-', up to 63, starting with a letter or digit`,
    );
  return name;
}

function unsafe(path: string, problem: string): CliExit {
  return new CliExit(
    ExitCode.DENIED,
    `error: ${path} ${problem}, so p2 does not trust the stores and token files it names\nhint: chmod go-w the file and its directory; it must belong to you (or root)`,
  );
}

/** Who may own the file: the user running p2, or root (for root, only root). */
function trustedOwner(uid: number): boolean {
  const me = process.geteuid?.() ?? uid;
  return uid === me || uid === 0;
}

async function readTrusted(path: string): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw unsafe(path, 'is a symbolic link');
    throw new CliExit(ExitCode.FAILURE, `error: cannot read ${path} (${code ?? 'error'})`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw unsafe(path, 'is not a regular file');
    if (!trustedOwner(info.uid)) throw unsafe(path, `belongs to uid ${info.uid}`);
    if (info.mode & 0o022) throw unsafe(path, 'is writable by group or others');
    const dir = await stat(dirname(path));
    if (!trustedOwner(dir.uid)) throw unsafe(dirname(path), `belongs to uid ${dir.uid}`);
    if (dir.mode & 0o022) throw unsafe(dirname(path), 'is writable by group or others');
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function invalid(path: string, what: string): CliExit {
  return new CliExit(
    ExitCode.INVALID_INPUT,
    `error: ${path}: ${what}\nhint: see \`p2 context --help\`; \`p2 context set NAME --store URL\` writes a valid entry`,
  );
}

function expand(path: string, base: string, env: NodeJS.ProcessEnv): string {
  if (path === '~' || path.startsWith('~/')) return join(env.HOME || homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(base, path);
}

/**
 * Reads the contexts file (an absent file has no contexts). Every key is checked: an unknown one is
 * an error naming it, never ignored.
 *
 * @throws CliExit {@link ExitCode.DENIED} for a file (or directory) others may write, a symlink, or
 *   one owned by someone else; {@link ExitCode.INVALID_INPUT} for a malformed file
 * @example const { current, contexts } = await readContexts(contextFilePath(process.env), process.env)
 */
export async function readContexts(path: string, env: NodeJS.ProcessEnv): Promise<ContextConfig> {
  return parseContexts(path, await readTrusted(path), env);
}

function parseContexts(
  path: string,
  text: string | undefined,
  env: NodeJS.ProcessEnv,
): ContextConfig {
  if (text === undefined) return { path, contexts: [] };
  const doc = parseDocument(text);
  if (doc.errors.length > 0)
    throw invalid(path, `not valid YAML (line ${doc.errors[0]?.linePos?.[0]?.line ?? '?'})`);
  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return { path, contexts: [] };
  if (typeof root !== 'object' || Array.isArray(root)) throw invalid(path, 'not a map');
  const config: ContextConfig = { path, contexts: [] };
  for (const [key, value] of Object.entries(root as Record<string, unknown>)) {
    if (key === 'current-context') {
      if (typeof value !== 'string') throw invalid(path, 'current-context is not a name');
      config.current = value;
    } else if (key === 'contexts') {
      if (value === null) continue;
      if (typeof value !== 'object' || Array.isArray(value))
        throw invalid(path, 'contexts is not a map of names');
      for (const [name, entry] of Object.entries(value as Record<string, unknown>))
        config.contexts.push(readContext(path, name, entry, env));
    } else
      throw invalid(path, `unknown key ${JSON.stringify(key)} (known: current-context, contexts)`);
  }
  return config;
}

function readContext(
  path: string,
  name: string,
  entry: unknown,
  env: NodeJS.ProcessEnv,
): StoreContext {
  if (!NAME.test(name))
    throw invalid(path, `contexts: ${JSON.stringify(name)} is not a context name`);
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
    throw invalid(path, `contexts.${name} is not a map`);
  const context: Partial<StoreContext> & { name: string } = { name };
  for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
    const field = CONTEXT_KEYS[key as FileKey];
    if (!field)
      throw invalid(
        path,
        `contexts.${name}: unknown key ${JSON.stringify(key)} (known: ${Object.keys(CONTEXT_KEYS).join(', ')})`,
      );
    if (typeof value !== 'string' || value === '')
      throw invalid(path, `contexts.${name}.${key} is not a non-empty string`);
    context[field] = field === 'store' ? value : expand(value, dirname(path), env);
  }
  if (!context.store) throw invalid(path, `contexts.${name} has no store`);
  return context as StoreContext;
}

/**
 * The context a command uses: `--context`, else `P2_CONTEXT`, else — only when neither `P2_STORE`
 * nor `CONSUL_HTTP_ADDR` names a store — the file's current context. Undefined when there is none.
 *
 * @throws CliExit {@link ExitCode.NOT_FOUND} for a named context the file does not have
 */
export function pickContext(
  config: ContextConfig,
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
): StoreContext | undefined {
  const named = flag ?? (env.P2_CONTEXT || undefined);
  const name = named ?? (env.P2_STORE || env.CONSUL_HTTP_ADDR ? undefined : config.current);
  if (name === undefined) return undefined;
  const found = config.contexts.find((c) => c.name === name);
  if (found) return found;
  const known = config.contexts.map((c) => c.name);
  throw new CliExit(
    ExitCode.NOT_FOUND,
    `error: no context named ${JSON.stringify(name)} in ${config.path}${named === undefined ? ' (its current-context)' : ''}\nhint: ${known.length > 0 ? `contexts: ${known.join(', ')}` : 'there are none yet'}; \`p2 context set ${name} --store URL\` adds it`,
  );
}

/** What {@link updateContexts} may change. */
export interface ContextChange {
  /** Add or replace this context (its other entries are replaced too). */
  set?: StoreContext;
  /** Remove this context (and the current-context line when it names it). */
  remove?: string;
  /** Make this context current (it must exist after `set`/`remove`). */
  use?: string;
}

/**
 * Changes the contexts file in place — comments and other entries kept — writing a new file (mode
 * 600, directory 700 when made) and renaming it over the old one. The file is read first with the
 * same checks as {@link readContexts}.
 *
 * @throws CliExit as {@link readContexts}; {@link ExitCode.NOT_FOUND} for `use`/`remove` of a context that does not exist
 * @example await updateContexts(path, env, { set: { name: 'lab', store: 'etcd://10.0.0.9:2379' }, use: 'lab' })
 */
export async function updateContexts(
  path: string,
  env: NodeJS.ProcessEnv,
  change: ContextChange,
): Promise<ContextConfig> {
  const original = await readTrusted(path);
  const before = parseContexts(path, original, env);
  let doc: Document = parseDocument(original ?? '');
  // An empty file (or only comments) holds no map yet.
  if (!isMap(doc.contents)) doc = new Document({});
  if (change.set) {
    const { name, ...fields } = change.set;
    const entry: Record<string, string> = {};
    for (const [key, field] of Object.entries(CONTEXT_KEYS)) {
      const value = fields[field as Exclude<keyof StoreContext, 'name'>];
      if (value !== undefined) entry[key] = value;
    }
    doc.setIn(['contexts', name], doc.createNode(entry));
  }
  if (change.remove !== undefined) {
    if (!before.contexts.some((c) => c.name === change.remove))
      throw notFound(before, change.remove);
    doc.deleteIn(['contexts', change.remove]);
    const current = doc.get('current-context', true);
    if (isScalar(current) && current.value === change.remove) doc.delete('current-context');
  }
  if (change.use !== undefined) doc.set('current-context', change.use);
  const text = doc.toString();
  // What is written must read back (a value that YAML would turn into something else, say).
  const after = parseContexts(path, text, env);
  if (change.use !== undefined && !after.contexts.some((c) => c.name === change.use))
    throw notFound(before, change.use);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, path);
  return after;
}

function notFound(config: ContextConfig, name: string): CliExit {
  const known = config.contexts.map((c) => c.name);
  return new CliExit(
    ExitCode.NOT_FOUND,
    `error: no context named ${JSON.stringify(name)} in ${config.path}\nhint: ${known.length > 0 ? `contexts: ${known.join(', ')}` : 'there are none yet'}`,
  );
}
