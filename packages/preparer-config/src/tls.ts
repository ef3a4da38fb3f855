/** The TLS files of the configuration (`ca_file`, `cert_file`, `key_file`), read as root may trust them. */
import { readTrustedFile } from '@p2/secure-fs';
import type { PreparerConfig } from './config.js';
import { PreparerConfigError, PreparerConfigErrorCode } from './errors.js';

/** PEM contents for TLS clients (artifact downloads); absent keys stay absent. */
export interface ClientTlsFiles {
  /** `ca_file`: the CA trusted for the store and artifact servers. */
  ca?: Buffer;
  /** `cert_file`: the client certificate (mTLS). */
  cert?: Buffer;
  /** `key_file`: its private key. */
  key?: Buffer;
}

const MAX_PEM_BYTES = 1024 * 1024;

async function readPem(key: string, path: string, secret: boolean): Promise<Buffer> {
  let bytes: Buffer | undefined;
  try {
    bytes = await readTrustedFile(path, { maxBytes: MAX_PEM_BYTES, private: secret });
  } catch (cause) {
    // The secure-fs message names the file and why (owner, mode, link), never its contents.
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_INVALID,
      `preparer.${key}: cannot use ${path}: ${(cause as Error).message}`,
      {
        cause,
        details: { key: `preparer.${key}`, path },
        hint: secret
          ? 'a private key must be a regular file owned by root with mode 600'
          : 'the file must be a regular file owned by root that nobody else may write',
      },
    );
  }
  if (bytes === undefined) {
    throw new PreparerConfigError(
      PreparerConfigErrorCode.CONFIG_INVALID,
      `preparer.${key}: ${path} does not exist`,
      { details: { key: `preparer.${key}`, path } },
    );
  }
  return bytes;
}

/**
 * Reads `ca_file`, `cert_file` and `key_file` for the preparer's TLS clients: regular files, owned
 * by root (or this user), nobody else may write them, and nobody else may read the key. The store
 * client reads the same files by path (`@p2/kv` checks them alike).
 *
 * @throws PreparerConfigError `P2_PREPARER_CONFIG_INVALID` naming the key whose file is missing or untrusted
 * @example
 * ```ts
 * const { ca, cert, key } = await readClientTlsFiles(config);
 * await fetchBytes(url, { ca, cert, key });
 * ```
 */
export async function readClientTlsFiles(
  config: Pick<PreparerConfig, 'caFile' | 'certFile' | 'keyFile'>,
): Promise<ClientTlsFiles> {
  const out: ClientTlsFiles = {};
  if (config.caFile) out.ca = await readPem('ca_file', config.caFile, false);
  if (config.certFile) out.cert = await readPem('cert_file', config.certFile, false);
  if (config.keyFile) out.key = await readPem('key_file', config.keyFile, true);
  return out;
}
