/**
 * A real HTTP(S) server on loopback for the tests, whose behaviour is scripted per request.
 * @internal
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

export interface TestServer {
  url: string;
  /** Requests seen so far (method, url, headers). */
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }>;
  close(): Promise<void>;
}

export async function startServer(handler: Handler, tls?: ServerOptions): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res, requests.length - 1);
  };
  const server: Server = tls ? createHttpsServer(tls, onRequest) : createHttpServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves `body` with ETag and Accept-Ranges, honouring `Range` requests. */
export function serveBytes(
  body: Buffer,
  req: IncomingMessage,
  res: ServerResponse,
  options: { ranges?: boolean } = {},
): void {
  const ranges = options.ranges ?? true;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const headers: Record<string, string> = { etag: '"v1"', 'content-type': 'application/gzip' };
  if (ranges) headers['accept-ranges'] = 'bytes';
  if (
    ranges &&
    range !== null &&
    (req.headers['if-range'] === undefined || req.headers['if-range'] === '"v1"')
  ) {
    const start = Number(range[1]);
    res.writeHead(206, {
      ...headers,
      'content-length': String(body.length - start),
      'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
    });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': String(body.length) });
  res.end(body);
}

/** Sends the headers and the first `bytes` of `body`, then resets the connection. */
export function serveThenReset(body: Buffer, bytes: number, res: ServerResponse): void {
  res.writeHead(200, {
    etag: '"v1"',
    'accept-ranges': 'bytes',
    'content-length': String(body.length),
  });
  res.write(body.subarray(0, bytes), () => {
    setTimeout(() => res.socket?.resetAndDestroy(), 20);
  });
}

/**
 * A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (`clientCert`,
 * `clientKey`) it signed, made with openssl.
 */
export async function makeCertificates(
  dir: string,
): Promise<{ ca: Buffer; key: Buffer; cert: Buffer; clientKey: Buffer; clientCert: Buffer }> {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=p2t-hoist-test-ca',
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  await import('node:fs/promises').then((fs) =>
    fs.writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n'),
  );
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  run(
    ...['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr'],
    ...['-subj', '/CN=p2t-hoist-client'],
  );
  run(
    ...['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key'],
    ...['-CAcreateserial', '-out', 'client.pem', '-days', '2'],
  );
  return {
    ca: await readFile(join(dir, 'ca.pem')),
    key: await readFile(join(dir, 'server.key')),
    cert: await readFile(join(dir, 'server.pem')),
    clientKey: await readFile(join(dir, 'client.key')),
    clientCert: await readFile(join(dir, 'client.pem')),
  };
}
