#!/usr/bin/env node
/**
 * `p2-kv-server --data-dir DIR [--port 8500] [--host 127.0.0.1] [--acl-token-file FILE]
 * [--session-ttl-min 10s] [--node NAME]`. Runs until SIGINT/SIGTERM, then snapshots and exits.
 * ACL token: `--acl-token-file`, else `P2_KV_ACL_TOKEN`, else its digest `P2_KV_ACL_TOKEN_SHA256`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isP2Error } from '@p2/errors';
import { parseGoDurationNs } from '@p2/go';
import pino from 'pino';
import { startKvServer } from './server.js';

const USAGE = `usage: p2-kv-server --data-dir DIR [--port 8500] [--host 127.0.0.1]
       [--acl-token-file FILE] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--session-ttl-min 10s] [--tombstone-ttl 15m] [--node NAME] [--compact-bytes 67108864]
       [--max-blocking-per-client 4096] [--log-level info]
Env: P2_KV_ACL_TOKEN (ACL token, if no file is given), P2_KV_ACL_TOKEN_SHA256 (only the token's
SHA-256 in hex, if neither is given: the server checks tokens without holding one),
P2_KV_TLS_CERT and P2_KV_TLS_KEY (PEM files: serve HTTPS, unless the flags are given).`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string', default: '8500' },
      host: { type: 'string', default: '127.0.0.1' },
      'acl-token-file': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-client-ca': { type: 'string' },
      'session-ttl-min': { type: 'string' },
      'tombstone-ttl': { type: 'string' },
      node: { type: 'string' },
      'compact-bytes': { type: 'string' },
      'max-blocking-per-client': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const dataDir = values['data-dir'];
  if (!dataDir) {
    console.error(`p2-kv-server: --data-dir is required\n${USAGE}`);
    process.exit(2);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`p2-kv-server: --port must be 0..65535, got ${JSON.stringify(values.port)}`);
    process.exit(2);
  }
  const durationMs = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const ns = parseGoDurationNs(text.trim());
    if (ns === undefined || ns < 0) {
      console.error(
        `p2-kv-server: --${flag} must be a duration like 10s or 500ms, got ${JSON.stringify(text)}`,
      );
      process.exit(2);
    }
    return ns / 1e6;
  };
  const compactText = values['compact-bytes'];
  const compactBytes = compactText === undefined ? undefined : Number(compactText);
  if (compactBytes !== undefined && (!Number.isInteger(compactBytes) || compactBytes < 1024)) {
    console.error(
      `p2-kv-server: --compact-bytes must be an integer ≥ 1024, got ${JSON.stringify(compactText)}`,
    );
    process.exit(2);
  }
  const blockingText = values['max-blocking-per-client'];
  const maxBlockingPerClient = blockingText === undefined ? undefined : Number(blockingText);
  if (
    maxBlockingPerClient !== undefined &&
    (!Number.isInteger(maxBlockingPerClient) || maxBlockingPerClient < 1)
  ) {
    console.error(
      `p2-kv-server: --max-blocking-per-client must be an integer ≥ 1, got ${JSON.stringify(blockingText)}`,
    );
    process.exit(2);
  }
  const tokenFile = values['acl-token-file'];
  const aclToken = tokenFile
    ? readFileSync(tokenFile, 'utf8').trim()
    : process.env.P2_KV_ACL_TOKEN || undefined;
  const tlsCert = values['tls-cert'] ?? (process.env.P2_KV_TLS_CERT || undefined);
  const tlsKey = values['tls-key'] ?? (process.env.P2_KV_TLS_KEY || undefined);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    console.error('p2-kv-server: --tls-cert and --tls-key go together');
    process.exit(2);
  }
  const tlsClientCa = values['tls-client-ca'] ?? (process.env.P2_KV_TLS_CLIENT_CA || undefined);
  if (tlsClientCa !== undefined && tlsCert === undefined) {
    console.error('p2-kv-server: --tls-client-ca needs --tls-cert and --tls-key');
    process.exit(2);
  }
  const tls =
    tlsCert && tlsKey
      ? {
          cert: readFileSync(tlsCert),
          key: readFileSync(tlsKey),
          ...(tlsClientCa ? { clientCa: readFileSync(tlsClientCa) } : {}),
        }
      : undefined;
  // Logs go to stderr: stdout carries only the one JSON line below.
  const logger = pino({ level: values['log-level'] ?? 'info' }, pino.destination(2));
  const server = await startKvServer({
    dataDir,
    port,
    host: values.host,
    aclToken,
    aclTokenSha256: aclToken ? undefined : process.env.P2_KV_ACL_TOKEN_SHA256 || undefined,
    logger,
    nodeName: values.node,
    sessionTtlMinMs: durationMs('session-ttl-min', values['session-ttl-min']),
    tombstoneTtlMs: durationMs('tombstone-ttl', values['tombstone-ttl']),
    compactBytes,
    maxBlockingPerClient,
    ...(tls ? { tls } : {}),
  });
  // One machine-readable line on stdout so supervisors and tests learn the port, and what the start
  // recovered from disk.
  process.stdout.write(
    `${JSON.stringify({ listening: server.url, port: server.port, recovered: server.recovery })}\n`,
  );
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  if (isP2Error(error)) {
    console.error(`p2-kv-server: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ''}`);
  } else {
    console.error(`p2-kv-server: ${(error as Error)?.stack ?? String(error)}`);
  }
  process.exit(1);
});
