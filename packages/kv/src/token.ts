/**
 * The store's ACL token on a host: created once by `p2-bootstrap` in a root-only file, found there
 * by the tools that run as root (`p2`, `p2-controllers`, the preparer), and never trusted from a
 * file someone else could have written.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { chmod, type FileHandle, link, lstat, mkdir, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { distrustDir } from '@p2/secure-fs';
import { KvError, KvErrorCodes } from './errors.js';

/** Where `p2-bootstrap` keeps the store's ACL token, and where `p2` looks for it. */
export const DEFAULT_TOKEN_FILE = '/etc/p2/consul.token';

/**
 * The embedded store's certificate as p2-bootstrap writes it (`@p2/kv-server`'s
 * `ensureStoreCertificate`): where it exists, the local store speaks HTTPS and clients pin it.
 */
export const DEFAULT_STORE_CA_FILE = '/etc/p2/tls/kv.pem';

/**
 * The store a tool on this host talks to when none is given: the embedded store on 127.0.0.1:8500
 * — over HTTPS, pinned to {@link DEFAULT_STORE_CA_FILE}, when p2-bootstrap made that certificate.
 * @example defaultStoreUrl() // 'consul+https://127.0.0.1:8500?ca=/etc/p2/tls/kv.pem' on a bootstrapped host
 */
export function defaultStoreUrl(caFile = DEFAULT_STORE_CA_FILE): string {
  return existsSync(caFile)
    ? `consul+https://127.0.0.1:8500?ca=${caFile}`
    : 'consul://127.0.0.1:8500';
}

/**
 * The store a command without a store flag uses: `P2_STORE`, else Consul's `CONSUL_HTTP_ADDR` as
 * Consul's CLI reads it (`host:port`, HTTPS when `CONSUL_HTTP_SSL` is true, or
 * `http(s)://host:port`), else {@link defaultStoreUrl}. Empty variables count as unset.
 *
 * @example storeUrlFromEnv({ CONSUL_HTTP_ADDR: '10.0.0.5:8500' }) // 'consul://10.0.0.5:8500'
 */
export function storeUrlFromEnv(env: NodeJS.ProcessEnv, caFile = DEFAULT_STORE_CA_FILE): string {
  if (env.P2_STORE) return env.P2_STORE;
  const address = env.CONSUL_HTTP_ADDR?.trim();
  if (!address) return defaultStoreUrl(caFile);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) return address;
  const ssl = /^(1|t|true)$/i.test(env.CONSUL_HTTP_SSL?.trim() ?? '');
  return `${ssl ? 'consul+https' : 'consul'}://${address}`;
}

/** The environment variable that overrides {@link DEFAULT_TOKEN_FILE} for `p2` and `p2-controllers`. */
export const TOKEN_FILE_ENV = 'P2_TOKEN_FILE';

/** What a person without the token can do about a 403 from the store. */
export const TOKEN_HINT = `run as root so p2 finds ${DEFAULT_TOKEN_FILE}, or pass --token / CONSUL_HTTP_TOKEN`;

/** Checks {@link readTokenFile} makes besides "a regular file, not a symlink". */
export interface TokenFileChecks {
  /** Refuse a file not owned by root (uid 0). @default false */
  rootOwned?: boolean;
  /** Refuse a file that group or others may read or write (mode & 0o066). @default false */
  private?: boolean;
}

function unsafe(path: string, problem: string, hint: string): KvError {
  return new KvError(KvErrorCodes.TOKEN_FILE_UNSAFE, `token file ${path} ${problem}`, {
    details: { path },
    hint,
  });
}

const FIX_HINT = (path: string) =>
  `it must be a regular file owned by root with mode 0600: chown root:root ${path} && chmod 600 ${path} (or delete it and run p2-bootstrap again to make a new token)`;

/**
 * Reads an ACL token from `path`: opened without following a symlink, refused unless it is a
 * regular file passing `checks`, trimmed, and refused when empty.
 *
 * @throws KvError `P2_KV_TOKEN_FILE_UNSAFE` (a symlink, not a regular file, wrong owner or mode),
 *   `P2_KV_TOKEN_FILE_UNREADABLE` (missing, permission denied, empty; `details.errno` has the code)
 * @example
 * ```ts
 * // root trusting a file: only root may have written it, nobody else may read it
 * const token = await readTokenFile('/etc/p2/consul.token', { rootOwned: true, private: true });
 * ```
 */
export async function readTokenFile(path: string, checks: TokenFileChecks = {}): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'ELOOP') {
      throw unsafe(path, 'is a symbolic link; refusing to follow it', FIX_HINT(path));
    }
    throw new KvError(
      KvErrorCodes.TOKEN_FILE_UNREADABLE,
      `cannot read token file ${path}: ${errno === 'ENOENT' ? 'it does not exist' : errno === 'EACCES' ? 'permission denied' : (error as Error).message}`,
      {
        cause: error,
        details: { path, errno },
        hint:
          errno === 'EACCES'
            ? TOKEN_HINT
            : 'run p2-bootstrap (as root) to create it, or point to the right file',
      },
    );
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw unsafe(path, 'is not a regular file', FIX_HINT(path));
    if (checks.rootOwned && stats.uid !== 0) {
      throw unsafe(path, `is owned by uid ${stats.uid}, not root`, FIX_HINT(path));
    }
    if (checks.private && (stats.mode & 0o066) !== 0) {
      throw unsafe(
        path,
        `has mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}: group or others may read or write it`,
        FIX_HINT(path),
      );
    }
    const token = (await handle.readFile('utf8')).trim();
    if (token === '') {
      throw new KvError(KvErrorCodes.TOKEN_FILE_UNREADABLE, `token file ${path} is empty`, {
        details: { path },
        hint: `delete ${path} and run p2-bootstrap again to make a new token`,
      });
    }
    return token;
  } finally {
    await handle.close();
  }
}

/** The SHA-256 of a token, hex: what `p2-kv-server` needs to check it without holding it. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Result of {@link ensureTokenFile}. */
export interface EnsuredToken {
  token: string;
  /** True when this call made the file (first run); false when an existing one was reused. */
  created: boolean;
}

async function checkParent(dir: string): Promise<void> {
  const why = await distrustDir(dir);
  if (why)
    throw unsafe(
      join(dir, '…'),
      `cannot live in ${dir}: it ${why}; another user could replace the token`,
      `use a real directory owned by root, not writable by group or others: chown root:root ${dir} && chmod go-w ${dir}`,
    );
}

/**
 * Makes sure a root-only token file exists at `path`: on first use creates 32 random bytes (hex)
 * mode 0600 (written to an exclusive, no-follow temp file, then hard-linked into place so two
 * callers never clobber each other); afterwards reuses it after checking it is a root-owned
 * regular file nobody else may read. The parent directory is created 0755 if missing and must be
 * root-owned and not writable by group or others. Must run as root.
 *
 * @throws KvError `P2_KV_TOKEN_FILE_UNSAFE` (symlink, wrong owner or mode, unsafe parent),
 *   `P2_KV_TOKEN_FILE_UNREADABLE` (empty or unreadable)
 * @example
 * ```ts
 * const { token, created } = await ensureTokenFile('/etc/p2/consul.token');
 * ```
 */
export async function ensureTokenFile(path: string): Promise<EnsuredToken> {
  const dir = dirname(path);
  // A directory made here gets 0755 whatever the umask; an existing one is only checked.
  if ((await mkdir(dir, { recursive: true, mode: 0o755 })) !== undefined) await chmod(dir, 0o755);
  await checkParent(dir);
  const reuse = async (): Promise<EnsuredToken> => ({
    token: await readTokenFile(path, { rootOwned: true, private: true }),
    created: false,
  });
  const exists = await lstat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
  if (exists) return reuse();

  const token = randomBytes(32).toString('hex');
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  const handle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    try {
      await handle.chmod(0o600);
      await handle.writeFile(`${token}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, path);
    } catch (error) {
      // Someone else made it between our check and now: theirs wins, if it is safe.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return reuse();
      throw error;
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  const dirHandle = await open(dir, constants.O_RDONLY);
  await dirHandle.sync().finally(() => dirHandle.close());
  return { token, created: true };
}

/** Where {@link findStoreToken} got the token from. */
export type StoreTokenSource =
  | 'flag'
  | 'token-file'
  | 'CONSUL_HTTP_TOKEN'
  | 'CONSUL_HTTP_TOKEN_FILE'
  | 'file';

/** Result of {@link findStoreToken}. */
export interface StoreToken {
  token: string | undefined;
  source: StoreTokenSource | undefined;
  /** The token file looked at (or that would have been). */
  file: string;
  /** Why the token file gave nothing (`does not exist`, `permission denied`), when it was read. */
  fileProblem?: string;
}

/** Inputs of {@link findStoreToken}. */
export interface StoreTokenLookup {
  /** `--token` */
  flag?: string | undefined;
  /** `--token-file`: a token file named explicitly (it must exist and pass the same checks). */
  tokenFile?: string | undefined;
  /** Environment to read `CONSUL_HTTP_TOKEN` and `P2_TOKEN_FILE` from. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Running as root: the token file must then be root-owned. @default process.getuid() === 0 */
  asRoot?: boolean;
}

/**
 * Finds the store's ACL token the way `p2` does, in Consul's order: `--token`, else `--token-file`,
 * else `CONSUL_HTTP_TOKEN`, else `CONSUL_HTTP_TOKEN_FILE`, else p2's token file (`P2_TOKEN_FILE`,
 * else {@link DEFAULT_TOKEN_FILE}). Every file is read only when it is a regular file and — as root
 * — owned by root. p2's own file may be missing or unreadable (no token; the store's 403 then
 * explains); a file named by flag or variable must be readable, and an unsafe file is an error.
 *
 * @throws KvError `P2_KV_TOKEN_FILE_UNSAFE` (symlink, not a regular file, not root-owned as root),
 *   `P2_KV_TOKEN_FILE_UNREADABLE` (a named file that is missing, unreadable or empty)
 * @example
 * ```ts
 * const { token } = await findStoreToken({ flag: options.token });
 * const store = createStore(url, token ? { token } : {});
 * ```
 */
export async function findStoreToken(lookup: StoreTokenLookup = {}): Promise<StoreToken> {
  const env = lookup.env ?? process.env;
  const file = env[TOKEN_FILE_ENV] || DEFAULT_TOKEN_FILE;
  if (lookup.flag) return { token: lookup.flag, source: 'flag', file };
  const asRoot = lookup.asRoot ?? process.getuid?.() === 0;
  const named = async (path: string, source: StoreTokenSource): Promise<StoreToken> => ({
    token: await readTokenFile(path, { rootOwned: asRoot }),
    source,
    file: path,
  });
  if (lookup.tokenFile) return named(lookup.tokenFile, 'token-file');
  if (env.CONSUL_HTTP_TOKEN)
    return { token: env.CONSUL_HTTP_TOKEN, source: 'CONSUL_HTTP_TOKEN', file };
  if (env.CONSUL_HTTP_TOKEN_FILE)
    return named(env.CONSUL_HTTP_TOKEN_FILE, 'CONSUL_HTTP_TOKEN_FILE');
  try {
    return { token: await readTokenFile(file, { rootOwned: asRoot }), source: 'file', file };
  } catch (error) {
    if (error instanceof KvError && error.code === KvErrorCodes.TOKEN_FILE_UNREADABLE) {
      const errno = error.details.errno;
      const fileProblem =
        errno === 'ENOENT'
          ? 'does not exist'
          : errno === 'EACCES'
            ? 'is not readable by this user'
            : error.message;
      return { token: undefined, source: undefined, file, fileProblem };
    }
    throw error;
  }
}

/**
 * Turns the store's 403 into an error that says which token was sent and where p2 looked, with
 * the next step. Any other error is returned unchanged.
 *
 * @example
 * ```ts
 * try { await store.get(key) } catch (error) { throw explainDenied(error, found) }
 * ```
 */
export function explainDenied(error: unknown, found: StoreToken): unknown {
  if (!(error instanceof KvError) || error.code !== KvErrorCodes.PERMISSION_DENIED) return error;
  const sent =
    found.source === 'flag'
      ? 'the token given with --token was refused'
      : found.source === 'CONSUL_HTTP_TOKEN'
        ? 'the token in CONSUL_HTTP_TOKEN was refused'
        : found.source === 'token-file'
          ? `the token in ${found.file} (--token-file) was refused`
          : found.source === 'CONSUL_HTTP_TOKEN_FILE'
            ? `the token in ${found.file} (CONSUL_HTTP_TOKEN_FILE) was refused`
            : found.source === 'file'
              ? `the token in ${found.file} was refused`
              : `no token was sent (no --token, no --token-file, no CONSUL_HTTP_TOKEN(_FILE), and ${found.file} ${found.fileProblem ?? 'gave none'})`;
  return new KvError(
    KvErrorCodes.PERMISSION_DENIED,
    // The store's own hint is replaced by ours, which knows where p2 looked.
    `the store refused the request: ${sent}\n  ${error.message.replace(/\s*Hint: .*$/s, '')}`,
    {
      cause: error,
      details: { ...error.details, tokenSource: found.source ?? 'none', tokenFile: found.file },
      hint:
        found.source === undefined
          ? TOKEN_HINT
          : `check that the token matches ${DEFAULT_TOKEN_FILE} on the store's host (readable by root only)`,
    },
  );
}
