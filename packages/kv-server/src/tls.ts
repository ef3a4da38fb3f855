/**
 * The embedded store's TLS identity on one host. On a shared host a plain-HTTP store has a gap:
 * while it restarts, any local user (any pod) can listen on its port and collect the ACL token
 * the preparer and `p2` send with every request. Over HTTPS with a pinned certificate a process
 * that took the port cannot present the store's certificate, so nothing is sent to it.
 *
 * The certificate is self-signed (clients pin it as their CA), for 127.0.0.1, ::1 and localhost,
 * made with `openssl`; its key is readable by the store's user alone.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describeError } from '@p2/errors';
import { ensureTrustedDir, readTrustedFile, removeTree, writeFileAtomic } from '@p2/secure-fs';
import { KvServerError, KvServerErrorCodes } from './errors.js';

const run = promisify(execFile);

/** Where p2-bootstrap keeps the store's certificate and key, and where `p2` looks for the certificate. */
export const DEFAULT_TLS_DIR = '/etc/p2/tls';

/** Options of {@link ensureStoreCertificate}. */
export interface StoreCertificateOptions {
  /** Directory for `kv.pem` (root 0644) and `kv.key` (the store's user, 0400). @default '/etc/p2/tls' */
  dir?: string;
  /** The Unix user the store runs as: it alone may read the key. */
  owner: { uid: number; gid: number };
  /** @default 3650 */
  days?: number;
}

/** Result of {@link ensureStoreCertificate}. */
export interface StoreCertificate {
  /** PEM certificate: serve it, and pin it as the CA on clients (`?ca=` in the store URL). */
  certPath: string;
  /** PEM private key, owned by the store's user, mode 0400. */
  keyPath: string;
  /** True when this call made them. */
  created: boolean;
}

function tlsError(message: string, hint: string, cause?: unknown): KvServerError {
  return new KvServerError(KvServerErrorCodes.TLS, message, {
    hint,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Makes sure the store has a certificate and key in `dir`: reuses them when the certificate is a
 * root-owned regular file nobody else can write and the key a regular file of the store's user
 * that nobody else can read; otherwise makes a new pair (a store restart then picks it up).
 * Must run as root.
 *
 * @throws KvServerError `P2_KV_SERVER_TLS` (openssl failed, or `dir` is not root's alone)
 * @example
 * ```ts
 * const { certPath, keyPath } = await ensureStoreCertificate({ owner: { uid: 998, gid: 998 } });
 * // store URL for clients: `consul+https://127.0.0.1:8500?ca=${certPath}`
 * ```
 */
export async function ensureStoreCertificate(
  options: StoreCertificateOptions,
): Promise<StoreCertificate> {
  const dir = options.dir ?? DEFAULT_TLS_DIR;
  const certPath = join(dir, 'kv.pem');
  const keyPath = join(dir, 'kv.key');
  try {
    await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
    await ensureTrustedDir(dir, 0o755);
  } catch (error) {
    throw tlsError(
      `cannot use ${dir} for the store's certificate: ${describeError(error)}`,
      `make ${dir} a directory owned by root and not writable by group or others`,
      error,
    );
  }
  if (await reusable(certPath, keyPath, options.owner))
    return { certPath, keyPath, created: false };

  const work = await mkdtemp(join(dir, '.new-'));
  try {
    await run(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        String(options.days ?? 3650),
        '-subj',
        '/CN=p2-kv-server',
        '-addext',
        'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
        '-keyout',
        join(work, 'key'),
        '-out',
        join(work, 'cert'),
      ],
      { timeout: 30_000 },
    );
    const key = await readFile(join(work, 'key'));
    const cert = await readFile(join(work, 'cert'));
    await writeFileAtomic(keyPath, key, { mode: 0o400, ...options.owner });
    await writeFileAtomic(certPath, cert, { mode: 0o644 });
  } catch (error) {
    throw tlsError(
      `cannot make the store's certificate in ${dir}: ${describeError(error)}`,
      'p2 makes it with openssl (Debian package openssl); is it installed?',
      error,
    );
  } finally {
    await removeTree(work).catch(() => undefined);
  }
  return { certPath, keyPath, created: true };
}

async function reusable(
  certPath: string,
  keyPath: string,
  owner: { uid: number; gid: number },
): Promise<boolean> {
  const cert = await readTrustedFile(certPath, { maxBytes: 65_536 }).catch(() => undefined);
  if (!cert?.includes('BEGIN CERTIFICATE')) return false;
  const key = await lstat(keyPath).catch(() => undefined);
  return key?.isFile() === true && key.uid === owner.uid && (key.mode & 0o077) === 0;
}
