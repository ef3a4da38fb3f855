/** Reading a store client's TLS files (CA, client certificate, key) as root may trust them. */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { distrustStats } from '@p2/secure-fs';
import { KvError, KvErrorCodes } from './errors.js';

/**
 * Reads a TLS file through one descriptor (no link followed, nothing swapped between check and
 * read): a regular file with a trusted owner nobody else may write — nor, for a private key, read.
 * Errors name the file and why, never its contents.
 */
function readTlsFile(path: string, role: 'CA' | 'certificate' | 'key'): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
    const info = fstatSync(fd);
    // These files decide which server gets our token and who we are: as root, only root's count.
    let why = info.isFile() ? distrustStats(info) : 'is not a regular file';
    if (!why && role === 'key' && (info.mode & 0o077) !== 0)
      why = `is readable by group or others (mode ${(info.mode & 0o7777).toString(8)}; expected 600)`;
    if (why) throw new Error(`${path} ${why}`);
    return readFileSync(fd);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ELOOP' ? `${path} is a symbolic link` : (cause as Error).message;
    throw new KvError(KvErrorCodes.BAD_OPTIONS, `cannot use TLS ${role} file ${path}: ${reason}`, {
      cause,
      details: { path, role },
      hint:
        role === 'key'
          ? 'pass a PEM key file owned by root (or this user) with mode 600'
          : `pass a readable PEM ${role} file nobody else may write`,
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The CA file, client certificate and key of a store's options, read and checked; a certificate
 * goes with its key, and the two must match. @internal
 * @throws KvError `P2_KV_BAD_OPTIONS` naming the file and why, never its contents
 */
export function clientTls(
  caFile: string | undefined,
  certFile: string | undefined,
  keyFile: string | undefined,
): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new KvError(
      KvErrorCodes.BAD_OPTIONS,
      'a TLS client certificate and its key go together: pass both tlsCertFile and tlsKeyFile',
      { hint: 'set both ?cert= and ?key= (or neither)' },
    );
  }
  const ca = caFile === undefined ? undefined : readTlsFile(caFile, 'CA');
  if (certFile === undefined || keyFile === undefined) return { ca };
  const cert = readTlsFile(certFile, 'certificate');
  const key = readTlsFile(keyFile, 'key');
  try {
    createSecureContext({ cert, key }); // a bad PEM or a key of another certificate fails now
  } catch (cause) {
    // Node's message names the problem ("key values mismatch", "no start line"), not the bytes.
    throw new KvError(
      KvErrorCodes.BAD_OPTIONS,
      `cannot use TLS client certificate ${certFile} with key ${keyFile}: ${(cause as Error).message}`,
      { cause, hint: 'the key must be the PEM private key of that PEM certificate' },
    );
  }
  return { ca, cert, key };
}

/** What to do when the server refused our client certificate (or wanted one and got none). @internal */
export const CLIENT_CERT_HINT =
  'the store requires a client certificate it trusts: pass one with its key (--cert-file/--key-file, cert_file/key_file, ?cert=…&key=…)';

/**
 * Whether a connection error is the server's TLS alert for a client certificate it wants and did not
 * get, or does not trust (mTLS). @internal
 */
export function clientCertificateRefused(text: string): boolean {
  return /alert (certificate required|bad certificate|unknown ca)/i.test(text);
}
